"""The seven course tasks: what each asks, where the student's code goes, and how many points it is worth.

This table is the one place that knows the tasks. The fences in the source (``# BEGIN SOLUTION (task 2)``)
name a task by its id, the stubs and the grader's table take their titles from here, and the points add up
to 100. A task's tests are the functions marked ``@pytest.mark.task("2")`` in
``minircan/assignments/tests/test_task2_*.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One assignment task: its id (as in the fences and the test markers), title, points and files."""

    id: str
    title: str
    points: int
    files: tuple[str, ...]  # where the student writes code, relative to the release's root
    notebook: str  # notebooks/assignments/<notebook>


TASKS: tuple[Task, ...] = (
    Task("1", "autograd backward", 15, ("minircan/autograd.py",), "task1_autograd.ipynb"),
    Task("2", "conv2d forward", 15, ("kernels/conv2d.py",), "task2_conv2d_forward.ipynb"),
    Task("3", "conv2d backward", 15, ("kernels/conv2d.py",), "task3_conv2d_backward.ipynb"),
    Task("4", "ReLU, sigmoid, average pooling, pixel shuffle", 15,
         ("kernels/relu.py", "kernels/sigmoid.py", "kernels/avg_pool.py", "kernels/pixel_shuffle.py"),
         "task4_activations_pooling_shuffle.ipynb"),
    Task("5", "channel attention and RCAB", 10, ("minircan/models/rcan.py",), "task5_channel_attention.ipynb"),
    Task("6", "CUDA kernels", 15,
         ("kernels/sigmoid.cu", "kernels/conv2d.cu", "kernels/avg_pool.cu", "kernels/block_reduce.cuh"),
         "task6_cuda_kernels.ipynb"),
    Task("7", "train the tiny RCAN", 15, ("minircan/train.py",), "task7_training.ipynb"),
)

TASK_BY_ID: dict[str, Task] = {t.id: t for t in TASKS}


def get_task(task_id: str) -> Task:
    """The Task with this id; a ValueError listing the valid ids otherwise."""
    key = str(task_id).strip()
    if key not in TASK_BY_ID:
        raise ValueError(f"unknown task {task_id!r}: the tasks are {', '.join(TASK_BY_ID)}")
    return TASK_BY_ID[key]
