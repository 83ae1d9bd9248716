"""Course assignments: a student release generated from the solution, and an autograder.

The solution is the library itself. Each piece students write is fenced in the source by a pair of
``BEGIN/END SOLUTION (task N)`` comments (fences.py); ``python -m minircan.assignments build OUT`` writes
the release with those pieces replaced by stubs, the task tests (tests/), reference values computed from the
solution, the assignment notebooks with TODO cells (build.py) and the step-through notebooks with the cells
that show a solution cut (teaching.py). ``python -m minircan.assignments grade
DIR`` runs the task tests against a tree and prints a table of points (grade.py). The seven tasks, their
points and files are listed in tasks.py.
"""

from .tasks import TASKS, Task, get_task

__all__ = ["TASKS", "Task", "get_task"]
