"""The benchmark runs end to end on a small shape and reports every kernel (speed is never asserted)."""

from minircan import bench


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
