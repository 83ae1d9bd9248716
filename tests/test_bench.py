"""The benchmark runs end to end on a small shape and reports every kernel (speed is never asserted)."""

import pytest

from minircan import bench, models, nn
from minircan.bench import algorithms, contention
from minircan.bench.profile import profile_worker


def test_bench_reports_every_kernel():
    rows = bench.run_kernels(n=1, c=4, hw=6, repeats=1)
    names = [r["name"] for r in rows]
    assert names[:3] == ["conv2d forward, im2col", "conv2d input grad, im2col", "conv2d weight+bias grad, im2col"]
    for m in bench.WINOGRAD_TILES:  # every algorithm gets its rows
        assert {f"conv2d forward, winograd F({m}x{m})", f"conv2d weight+bias grad, winograd F({m}x{m})"} <= set(names)
    assert {"relu forward", "sigmoid backward", "avg pool forward", "pixel shuffle (x2)"} <= set(names)
    assert all(r["ours"] > 0 and r["torch"] > 0 and r["ratio"] > 0 for r in rows)
    table = bench.format_table(rows)
    assert table.count("\n") == len(rows) + 1 and "GFLOP/s" in table


def test_bench_command_line(capsys):
    # --keep-blas-env: without it the bench may restart itself (exec), which would replace pytest. The training
    # step is the tiny configuration's only (at batch 1 of 6x6 patches), once per conv algorithm.
    assert bench.main(["--batch", "1", "--channels", "4", "--size", "6", "--repeats", "1", "--keep-blas-env",
                       "--train-step", "tiny", "--conv-algorithms", "winograd", "im2col"]) == 0
    out = capsys.readouterr().out
    assert "| conv2d forward, im2col |" in out and "threads=" in out
    assert "| tiny (winograd) |" in out and "| tiny (im2col) |" in out and "| paper" not in out


def test_bench_profile_prints_minircan_and_torch_tables(capsys):
    assert bench.main(["--profile", "tiny", "--profile-steps", "1", "--batch", "1", "--size", "6",
                       "--keep-blas-env"]) == 0
    out = capsys.readouterr().out
    for text in ("## tiny RCAN x2, batch 1 of 6x6", "Conv2d forward", "Conv2d backward", "conv2d_backward_input",
                 "Adam.step", "engine overhead", "torch.profiler", "aten::"):
        assert text in out, text
    assert "| conv2d forward, im2col |" not in out  # --profile prints its tables instead of the kernel table


def test_profile_worker_splits_the_step_into_parts_that_sum_to_its_wall_time():
    r = profile_worker("minircan", "tiny", batch=1, patch=6, scale=2, steps=2)
    parts = r["parts"]
    assert r["plain_s"] > 0 and r["profiled_s"] == pytest.approx(parts["wall"])
    assert all(parts[k] > 0 for k in ("forward", "backward", "optimizer", "engine", "kernels"))
    assert parts["forward"] + parts["backward"] + parts["optimizer"] + parts["engine"] == pytest.approx(parts["wall"])
    assert parts["kernels"] <= parts["forward"] + parts["backward"]


def test_neighbours_spin_inside_the_block_and_are_killed_after_it():
    with contention.Neighbours(2) as n:
        procs = list(n.procs)
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
    assert all(p.returncode is not None for p in procs)
    with pytest.raises(KeyboardInterrupt), contention.Neighbours(1) as n:
        procs = list(n.procs)
        raise KeyboardInterrupt
    assert procs[0].returncode is not None


def test_contention_rows_and_ratios(monkeypatch):
    # The one-thread variant sets the thread counts in the environment before the worker imports anything,
    # whatever the parent's environment says.
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    rows = contention.run_contention((0, 1), threads=2, batch=1, patch=6, scale=2, steps=1, with_torch=False)
    variants = ["minircan, default threads", "minircan, one thread", "minircan, BLAS on every core"]
    assert [(r["variant"], r["load"]) for r in rows] == [(v, k) for k in (0, 1) for v in variants]
    assert all(r["step_s"] > 0 and r["median_s"] > 0 for r in rows)
    assert [r["threads"] for r in rows if r["variant"] == "minircan, one thread"] == [1, 1]
    blas = {r["variant"]: r["blas_threads"] for r in rows}  # minircan/threads.py's default reached each worker
    assert blas == {"minircan, default threads": 1, "minircan, one thread": 1, "minircan, BLAS on every core": 2}
    table = contention.format_contention(rows, (0, 1))
    t = {(r["variant"], r["load"]): r["step_s"] for r in rows}
    slow = t[("minircan, one thread", 1)] / t[("minircan, one thread", 0)]
    assert f"| minircan, one thread | {t[('minircan, one thread', 0)]:.3f} | " in table and f"{slow:.2f}x" in table
    r0, r1 = (t[("minircan, default threads", k)] / t[("minircan, one thread", k)] for k in (0, 1))
    assert f"| minircan | {r0:.2f}x | {r1:.2f}x |" in table
    assert "| minircan, BLAS on every core | " in table.split("default threads / one thread")[1]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_algorithm_bench_covers_each_3x3_conv_shape_of_the_model(scale):
    # The shapes the table times are the model's own: every 3x3 conv's weight shape, at the resolution its
    # input has (the upsampler's second conv at x4 sees twice the LR size, the tail the HR size).
    model = models.RCAN.from_config("tiny", scale=scale)
    weights = {tuple(m.weight.shape) for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)}
    shapes = algorithms.conv_shapes("tiny", scale, n=2, hw=5)
    assert {w for _, _, w in shapes} == weights
    assert shapes[-1][1] == (2, 16, 5 * scale, 5 * scale)  # the tail runs on the HR image
    if scale == 4:
        assert [x[2] for name, x, _ in shapes if name.startswith("upsampler")] == [5, 10]


def test_algorithm_bench_command_line(capsys):
    assert bench.main(["--algorithms", "tiny", "--batch", "1", "--size", "6", "--repeats", "1",
                       "--keep-blas-env"]) == 0
    out = capsys.readouterr().out
    assert "# conv algorithms on cpu: RCAN tiny x2, batch 1 of 6x6" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "->" in line and "im2col ms" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| head", "| body", "| upsampler", "| tail"]
    assert all(r.endswith("| im2col |") for r in rows)  # 36 pixels: auto keeps im2col everywhere
