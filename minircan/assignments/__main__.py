"""``python -m minircan.assignments``: build the student release, grade a tree, reveal a task's solution.

    python -m minircan.assignments build OUT [--force] [--keep-solution T ...]
    python -m minircan.assignments grade DIR [--task T ...] [--json] [--tests RELEASE] [--timeout S]
    python -m minircan.assignments reveal DIR --task T [--task T ...]
    python -m minircan.assignments references OUT      (the reference values alone; the grader uses it)

``reveal`` also brings back the cells of the step-through notebooks that were cut for those tasks.
``build`` and ``reveal`` run from the solution repository (they read its fenced sources); ``grade`` runs
anywhere, on a release or on the solution repository.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .tasks import TASKS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minircan.assignments", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the student release to OUT")
    b.add_argument("out", help="output folder (new or empty)")
    b.add_argument("--force", action="store_true", help="replace a release built in OUT before")
    b.add_argument("--keep-solution", action="append", default=[], metavar="T",
                   help="keep task T's solution in the release (repeatable), e.g. after its deadline")
    g = sub.add_parser("grade", help="run the task tests against DIR and print a table of points")
    g.add_argument("dir", help="a student release (or the solution repository)")
    g.add_argument("--task", action="append", default=None, metavar="T",
                   help=f"grade only task T (repeatable; tasks: {', '.join(t.id for t in TASKS)})")
    g.add_argument("--json", action="store_true", help="print the result as JSON (for a gradebook)")
    g.add_argument("--tests", metavar="RELEASE", help="take the tests from this pristine release, not from DIR")
    g.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="seconds one task's tests may run before the task counts as timed out (default 300)")
    r = sub.add_parser("reveal", help="put the solution of a task back into a release (from the solution repo)")
    r.add_argument("dir", help="a student release")
    r.add_argument("--task", action="append", required=True, metavar="T", help="the task to reveal (repeatable)")
    f = sub.add_parser("references", help="compute the tests' reference values into OUT")
    f.add_argument("out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "build":
            from .build import build

            t0 = time.perf_counter()
            manifest = build(args.out, force=args.force, keep=tuple(args.keep_solution))
            print(f"wrote the student release to {Path(args.out).resolve()} in {time.perf_counter() - t0:.0f} s: "
                  f"{manifest['regions']} solution regions stubbed"
                  + (f" (kept: tasks {', '.join(manifest['solutions_kept'])})" if manifest["solutions_kept"] else "")
                  + f", {len(manifest['tasks'])} tasks, {sum(t['points'] for t in manifest['tasks'])} points")
            return 0
        if args.command == "grade":
            from .grade import DEFAULT_TIMEOUT, Progress, as_json, grade, table, total

            timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
            if timeout <= 0:
                raise ValueError(f"--timeout {args.timeout:g}: give the seconds a task may run, a positive number")
            results = grade(args.dir, args.task, tests_from=args.tests, timeout=timeout, progress=Progress())
            print(as_json(results, args.dir) if args.json else table(results))
            earned, possible = total(results)
            return 0 if all(r.status == "passed" for r in results) and earned == possible else 1
        if args.command == "reveal":
            from .build import reveal_tasks

            for path, count in reveal_tasks(args.dir, args.task):
                print(f"{path}: {count} region{'s' if count != 1 else ''} revealed")
            return 0
        if args.command == "references":
            from .references import write_all

            for path in write_all(args.out):
                print(path)
            return 0
    except (RuntimeError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
