"""The evaluation and upscaling command lines."""

import numpy as np
from PIL import Image

from minircan import evaluate, upscale


def test_evaluate_bicubic_on_the_bundled_images(capsys):
    assert evaluate.main(["--bicubic"]) == 0
    out = capsys.readouterr().out
    assert "chelsea" in out and "mean of 2" in out


def test_evaluate_a_model_tiled_and_with_self_ensemble(weights, tmp_path, capsys):
    hr = tmp_path / "set"
    hr.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 26, 3), dtype=np.uint8)).save(hr / "a.png")
    assert evaluate.main(["--weights", str(weights), "--data", str(hr), "--tile", "8", "--overlap", "4",
                          "--self-ensemble", "--save", str(tmp_path / "sr")]) == 0
    assert "set" in capsys.readouterr().out
    assert (tmp_path / "sr" / "set" / "a_x2_SR.png").exists()
    assert evaluate.main(["--weights", str(weights), "--scale", "3"]) == 1
    assert "x2 model" in capsys.readouterr().err


def test_upscale_rgba_gray_and_folders(weights, tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(rng.integers(0, 256, (20, 17, 4), dtype=np.uint8), "RGBA").save(src / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (11, 9), dtype=np.uint8), "L").save(src / "gray.bmp")
    Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(src / "photo.jpg")
    assert upscale.main([str(src), "-o", str(tmp_path / "out"), "--weights", str(weights), "--tile", "8",
                         "--overlap", "4", "--no-progress"]) == 0
    rgba = Image.open(tmp_path / "out" / "rgba_x2.png")
    assert rgba.mode == "RGBA" and rgba.size == (34, 40)
    assert Image.open(tmp_path / "out" / "gray_x2.bmp").size == (18, 22)
    assert Image.open(tmp_path / "out" / "photo_x2.jpg").size == (20, 24)
    assert upscale.main([str(src / "photo.jpg"), "-o", str(tmp_path / "one.png"), "--weights", str(weights)]) == 0
    assert Image.open(tmp_path / "one.png").size == (20, 24)


def test_upscale_errors(weights, tmp_path, capsys):
    assert upscale.main([str(tmp_path / "missing.png"), "-o", str(tmp_path), "--weights", str(weights)]) == 1
    assert "missing.png" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("hello")
    assert upscale.main([str(tmp_path / "notes.txt"), "-o", str(tmp_path), "--weights", str(weights)]) == 1
    assert "not a supported image type" in capsys.readouterr().err
