"""The command lines as a new user meets them: outputs never destroy inputs, unwritable outputs are found
before any computation, every mistake ends in one ``error:`` line (no traceback, no advice to load unsafely),
one evaluation default, help written for users, a readable training header."""

import argparse
import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import minircan
from minircan import bench, checkpoint, convert, evaluate, inference, train, upscale
from minircan.models import RCAN, load_model

QUICK = ["--steps", "2", "--eval-every", "2", "--batch-size", "2", "--patch-size", "12", "--no-progress"]


def png(path, h=12, w=10, seed=0):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def no_compute(monkeypatch):
    """Fails the test if a model is run: checks that must come before any computation."""
    def refuse(*a, **k):
        raise AssertionError("the image was computed before the output was checked")

    monkeypatch.setattr(upscale, "upscale_image", refuse)
    monkeypatch.setattr(evaluate, "upscale_image", refuse)
    monkeypatch.setattr(evaluate, "bicubic", refuse)


# ----- 1. outputs never destroy inputs ------------------------------------------------------------------------

def test_upscale_refuses_to_write_over_its_input(weights, tmp_path, capsys, no_compute):
    x = png(tmp_path / "x.png")
    before = x.read_bytes()
    assert upscale.main([str(x), "-o", str(x), "--weights", str(weights)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "x.png" in line and "input" in line
    (tmp_path / "link.png").symlink_to(x)
    assert upscale.main([str(tmp_path / "link.png"), "-o", str(x), "--weights", str(weights)]) == 1
    one_error_line(capsys.readouterr().err)
    assert upscale.main([str(x), "-o", str(tmp_path / "link.png"), "--weights", str(weights)]) == 1
    one_error_line(capsys.readouterr().err)
    # one input's output name is another input (from another folder)
    album, other = tmp_path / "album", tmp_path / "other"
    album.mkdir()
    other.mkdir()
    png(album / "a.png")
    png(other / "a_x2.png", 24, 20)
    keep = (other / "a_x2.png").read_bytes()
    assert upscale.main([str(album / "a.png"), str(other / "a_x2.png"), "-o", str(other), "--weights",
                         str(weights)]) == 1
    assert "a_x2.png" in one_error_line(capsys.readouterr().err)
    assert x.read_bytes() == before and (other / "a_x2.png").read_bytes() == keep


def test_upscale_cli_refuses_x_to_x(weights, tmp_path):
    x = png(tmp_path / "x.png")
    before = x.read_bytes()
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(minircan.__file__)))
    proc = subprocess.run([sys.executable, "-m", "minircan.upscale", "x.png", "-o", "x.png", "--weights",
                           str(weights)], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1 and x.read_bytes() == before
    one_error_line(proc.stderr)


def test_upscale_into_its_own_folder_twice_skips_its_outputs(weights, tmp_path, capsys):
    same = tmp_path / "same"
    same.mkdir()
    png(same / "p.png")
    args = [str(same), "-o", str(same), "--weights", str(weights), "--no-progress"]
    assert upscale.main(args) == 0
    first = (same / "p_x2.png").read_bytes()
    capsys.readouterr()
    assert upscale.main(args) == 0
    out = capsys.readouterr()
    assert sorted(p.name for p in same.iterdir()) == ["p.png", "p_x2.png"]
    assert "p_x2.png" in out.out + out.err and "skip" in (out.out + out.err).lower()
    assert (same / "p_x2.png").read_bytes() == first
    # a file of the user's that is named like an output but is not one (not twice the size) is an input:
    png(same / "q.png")
    png(same / "q_x2.png", 5, 5)
    mine = (same / "q_x2.png").read_bytes()
    assert upscale.main(args) == 1
    assert "q_x2.png" in one_error_line(capsys.readouterr().err)
    assert (same / "q_x2.png").read_bytes() == mine


def test_upscale_output_kind_follows_its_name(weights, tmp_path, capsys, no_compute):
    x = png(tmp_path / "x.png")
    assert upscale.main([str(x), "-o", str(tmp_path / "o.webp"), "--weights", str(weights)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert ".webp" in line and ".png" in line
    assert not (tmp_path / "o.webp").exists()
    y = png(tmp_path / "y.png")
    existing = png(tmp_path / "existing.png")
    before = existing.read_bytes()
    assert upscale.main([str(x), str(y), "-o", str(existing), "--weights", str(weights)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "folder" in line
    assert existing.read_bytes() == before
    assert upscale.main([str(x), str(y), "-o", str(tmp_path / "new.png"), "--weights", str(weights)]) == 1
    one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "new.png").exists()


# ----- unwritable outputs: found before any computation ---------------------------------------------------------

@contextlib.contextmanager
def read_only_folder(path):
    """A folder no one can write into: a read-only bind mount where the system allows one (root is not stopped
    by permissions), else permissions (for a user who is not root)."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    if subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a read-only folder here (root, and no bind mounts)")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only")
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


def test_unwritable_outputs_are_refused_first(weights, tmp_path, capsys, monkeypatch, no_compute):
    x = png(tmp_path / "x.png")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert upscale.main([str(x), "-o", str(blocker / "sub"), "--weights", str(weights)]) == 1
    assert "a-file" in one_error_line(capsys.readouterr().err)
    assert evaluate.main(["--bicubic", "--save", str(blocker / "sub")]) == 1
    assert "a-file" in one_error_line(capsys.readouterr().err)

    def no_data(config):
        raise AssertionError("data loaded before --out was checked")

    monkeypatch.setattr(train, "load_data", no_data)
    assert train.main([*QUICK, "--out", str(blocker / "run")]) == 1
    assert "a-file" in one_error_line(capsys.readouterr().err)
    with read_only_folder(tmp_path / "ro") as ro:
        for call in (lambda: upscale.main([str(x), "-o", str(ro / "out"), "--weights", str(weights)]),
                     lambda: upscale.main([str(x), "-o", str(ro / "x2.png"), "--weights", str(weights)]),
                     lambda: evaluate.main(["--bicubic", "--save", str(ro / "sr")]),
                     lambda: train.main([*QUICK, "--out", str(ro / "run")]),
                     lambda: train.main([*QUICK, "--out", str(ro)])):
            assert call() == 1
            line = one_error_line(capsys.readouterr().err)
            assert "ro" in line and "writ" in line, line


# ----- 3. errors: one line, the problem and the fix, never unsafe advice -----------------------------------------

def test_weights_that_are_not_weights(tmp_path, capsys):
    text = tmp_path / "w.npz"
    text.write_text("hello, I am a text file\n")
    assert evaluate.main(["--weights", str(text)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "w.npz" in line and "pickle" not in line.lower()
    with pytest.raises(ValueError) as e:
        checkpoint.load(text)
    assert "pickle" not in str(e.value).lower()


def test_plain_npz_state_dict_loads_and_minircan_load_points_the_way(tmp_path, capsys):
    minircan.manual_seed(1)
    model = RCAN.from_config("tiny", scale=3)
    np.savez(tmp_path / "sd.npz", **model.state_dict())
    loaded = load_model(tmp_path / "sd.npz")
    assert loaded.scale == 3 and all(np.array_equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    with pytest.raises(ValueError, match="load_model") as e:
        minircan.load(tmp_path / "sd.npz")
    assert "convert" in str(e.value)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    assert evaluate.main(["--weights", str(tmp_path / "other.npz")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "RCAN" in line and "other.npz" in line


def test_pt_files_never_reach_torchs_unpickler(tmp_path, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    minircan.manual_seed(2)
    model = RCAN.from_config("tiny", scale=2)
    torch.save({k: torch.from_numpy(v) for k, v in model.state_dict().items()}, tmp_path / "x.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("this ran",))

    torch.save({"a": Evil()}, tmp_path / "evil.pt")

    def forbidden(*a, **k):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", forbidden)
    loaded = load_model(tmp_path / "x.pt")
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert evaluate.main(["--weights", str(tmp_path / "evil.pt")]) == 1
    out = capsys.readouterr()
    line = one_error_line(out.err)
    assert "this ran" not in out.out and "weights_only" not in line and "refusing to load" in line and ".print" in line
    with pytest.raises(ValueError, match="load_model") as e:
        minircan.load(tmp_path / "x.pt")
    assert ".npz file but" not in str(e.value) and "PyTorch" in str(e.value)


def test_scales_are_checked(capsys, monkeypatch):
    for bad in ("0", "-2", "1.5", "x"):
        with pytest.raises(SystemExit) as e:
            evaluate.main(["--bicubic", "--scale", bad])
        assert e.value.code == 2
        assert "--scale" in capsys.readouterr().err
    assert evaluate.main(["--bicubic", "--scale", "1000000"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "1000000" in line and "empty image" not in line
    with pytest.raises(ValueError, match="integer"):
        minircan.data.modcrop(np.zeros((8, 8, 3), np.uint8), 2.5)
    with pytest.raises(ValueError, match="smaller than"):
        minircan.data.degrade(np.zeros((8, 8, 3), np.uint8), 16)


def test_tiny_images_get_a_warning(weights, tmp_path, capsys):
    one = png(tmp_path / "one.png", 1, 1)
    assert upscale.main([str(one), "-o", str(tmp_path / "out"), "--weights", str(weights)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "1x1" in err


def test_ctrl_c_in_upscale_is_one_line(weights, tmp_path, capsys, monkeypatch):
    x = png(tmp_path / "x.png")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(upscale, "upscale_image", interrupted)
    try:
        rc = upscale.main([str(x), "-o", str(tmp_path / "out"), "--weights", str(weights)])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped upscale.main (a traceback for the user)")
    assert rc == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "interrupted" in err


# ----- 4. one evaluation default, --tile chop in both, help texts, the header ------------------------------------

def test_training_and_evaluate_score_the_same_weights_the_same(weights, monkeypatch, capsys, tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    png(folder / "a.png", 44, 40)
    rows = {}
    real = evaluate.evaluate_set

    def keep(name, pairs, upscale_fn, scale, save=None):
        rows["evaluate"] = real(name, pairs, upscale_fn, scale, save)
        return rows["evaluate"]

    monkeypatch.setattr(evaluate, "evaluate_set", keep)
    assert evaluate.main(["--weights", str(weights), "--data", str(folder)]) == 0
    config = minircan.train_config.TrainConfig.preset("tiny", patch_size=8, out=str(tmp_path))
    pairs = minircan.data.benchmark_pairs(folder, 2)
    trainer = train.Trainer(config, pairs, pairs)
    trainer.model.load_state_dict(load_model(weights).state_dict())
    rows["train"] = trainer.evaluate()
    for a, b in zip(rows["evaluate"], rows["train"]):
        assert a["name"] == b["name"] and a["psnr"] == b["psnr"] and a["ssim"] == b["ssim"], (a, b)
    assert "chop" in capsys.readouterr().out


def test_tile_chop_is_accepted_by_both_and_bad_tiles_by_neither(weights, tmp_path, capsys):
    x = png(tmp_path / "x.png", 30, 26)
    assert upscale.main([str(x), "-o", str(tmp_path / "c.png"), "--weights", str(weights), "--tile", "chop"]) == 0
    lr = inference.to_chw(np.asarray(Image.open(x)))
    expected = inference.to_hwc_uint8(inference.upscale_chop(load_model(weights), lr, 2))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "c.png")), expected)
    folder = tmp_path / "set"
    folder.mkdir()
    png(folder / "a.png", 30, 26)
    assert evaluate.main(["--weights", str(weights), "--tile", "chop", "--data", str(folder)]) == 0
    for bad in ("-1", "abc", "1.5"):
        for main in (lambda t: upscale.main([str(x), "-o", str(tmp_path / "d.png"), "--weights", str(weights),
                                             "--tile", t]),
                     lambda t: evaluate.main(["--weights", str(weights), "--tile", t])):
            with pytest.raises(SystemExit) as e:
                main(bad)
            assert e.value.code == 2 and "--tile" in capsys.readouterr().err


def test_chop_handles_images_smaller_than_its_overlap(weights):
    model = load_model(weights)
    for h, w in ((1, 1), (5, 30), (19, 21)):
        lr = np.random.default_rng(h).uniform(0, 255, (3, h, w)).astype(np.float32)
        assert inference.upscale_chop(model, lr, 2).shape == (3, 2 * h, 2 * w)


PARSERS = {"train": train, "evaluate": evaluate, "upscale": upscale, "convert": convert, "bench": bench}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_help_texts_are_written_for_users(name):
    parser = PARSERS[name].build_parser()
    text = parser.format_help()
    assert "``" not in text and "(default: None)" not in text, text
    required_choice = {a for g in parser._mutually_exclusive_groups if g.required for a in g._group_actions}
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
        takes_value = action.option_strings and action.nargs != 0 and not action.required
        if takes_value and action not in required_choice:  # its default is said, once
            assert action.help.count("default") == 1, f"{name}: {action.option_strings}: {action.help}"
        else:
            assert action.help.count("default") <= 1, f"{name}: {action.option_strings}: {action.help}"


def test_training_header_reads_like_the_summary(tmp_path, capsys, monkeypatch):
    def stop(text):  # the header is printed before the first step: stop there
        print(text)
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "print_header", stop)
    assert train.main([*QUICK, "--out", str(tmp_path / "run")]) == 130
    out = capsys.readouterr().out
    first, second = out.splitlines()[:2]
    assert first == "RCAN tiny x2: G=2 B=2 C=16 r=4, 36,299 parameters", first
    assert "{" not in second and "steps of 2 x 12x12 patches" in second and "Adam" in second, second
    assert "9 training images, 2 validation images" in second, second


def test_convert_a_plain_npz_state_dict(tmp_path, capsys):
    minircan.manual_seed(3)
    model = RCAN.from_config("tiny", scale=2)
    np.savez(tmp_path / "sd.npz", **model.state_dict())
    assert convert.main([str(tmp_path / "sd.npz"), str(tmp_path / "m.npz")]) == 0
    loaded = minircan.load(tmp_path / "m.npz")  # now a minircan model file
    assert loaded["format"] == "minircan-rcan"
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in loaded["state_dict"].items())
    with pytest.raises(SystemExit):  # minircan .npz to .npz: nothing to convert
        convert.main([str(tmp_path / "m.npz"), str(tmp_path / "again.npz")])
