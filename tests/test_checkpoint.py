"""minircan.save's promise: an interrupted save leaves the previous checkpoint whole and loadable, and no
temporary file behind; the bytes reach the disk (fsync) before the rename makes them the checkpoint."""

import os

import numpy as np
import pytest

import minircan
from minircan import checkpoint


def _old(tmp_path):
    path = tmp_path / "c.npz"
    minircan.save({"model": {"w": np.arange(6.0).reshape(2, 3)}, "step": 7}, path)
    return path


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, OSError])
def test_a_save_interrupted_while_writing_keeps_the_old_file(tmp_path, monkeypatch, interruption):
    # The interruption comes after half of the new file's bytes were written: a save that wrote in place
    # would have truncated the old checkpoint by then.
    path = _old(tmp_path)
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_die(file, **arrays):
        real_savez(file, **arrays)
        file.seek(0)
        file.truncate(len(before) // 2)
        raise interruption("disk full / Ctrl-C in the middle of the write")

    monkeypatch.setattr(checkpoint.np, "savez", savez_then_die)
    with pytest.raises(interruption):
        minircan.save({"model": {"w": np.ones((50, 50))}, "step": 8}, path)
    assert path.read_bytes() == before  # the old checkpoint, byte for byte
    obj = minircan.load(path)
    assert obj["step"] == 7 and np.array_equal(obj["model"]["w"], np.arange(6.0).reshape(2, 3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # the partial temporary file is removed


def test_save_syncs_the_new_file_before_renaming_it_over_the_old(tmp_path, monkeypatch):
    path = _old(tmp_path)
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_size))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(src) != os.fspath(dst) and os.fspath(dst) == os.fspath(path)))
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "fsync", fsync)
    monkeypatch.setattr(checkpoint.os, "replace", replace)
    minircan.save({"model": {"w": np.ones((20, 20))}, "step": 9}, path)
    assert [e[0] for e in events] == ["fsync", "replace"], events
    assert events[0][1] == path.stat().st_size  # the whole file was synced, then renamed
    assert events[1][1]  # renamed from another (temporary) name onto the target
    assert minircan.load(path)["step"] == 9
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]
