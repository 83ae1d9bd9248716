"""Where the commands write: checked before any computation, so that a long run never ends in a write error.

``check_writable_folder(path, flag)`` finds the nearest part of ``path`` that exists and checks that it is a
folder this process may create files in (``os.access``, which also reports a read-only file system, for
root too). Nothing is created: a run interrupted before its first output leaves no empty folder behind.
"""

from __future__ import annotations

import os
from pathlib import Path


class OutputError(ValueError):
    """An output location that cannot be written; the message names it and the fix."""


def nearest_existing(path: str | os.PathLike) -> Path:
    """``path`` itself if it exists, else its nearest existing ancestor (the current folder at worst)."""
    p = Path(os.path.abspath(os.fspath(path)))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable_folder(path: str | os.PathLike, flag: str) -> None:
    """Raise OutputError unless files can be written into the folder ``path`` (created later if missing).

    ``flag`` names the option in the message (e.g. ``--out``).
    """
    path = Path(os.fspath(path))
    if path.exists() and not path.is_dir():
        raise OutputError(f"{flag} {path} is a file, not a folder: choose a folder name")
    base = nearest_existing(path)
    if not base.is_dir():
        raise OutputError(f"{flag} {path}: {base} is a file, so no folder can be made under it; choose another "
                          f"{flag}")
    if not os.access(base, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if _read_only_fs(base) else "is not writable by you"
        raise OutputError(f"{flag} {path}: {base} {why}; choose a folder you can write to")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether a and b name the same file once links are resolved (False when b does not exist yet and
    resolves elsewhere)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return Path(os.path.realpath(a)) == Path(os.path.realpath(b))
