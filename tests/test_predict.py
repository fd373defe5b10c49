"""`gtaseg predict` and `gtaseg compare`: files written, their indices, palette, sizes, and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtaseg.api import load_model
from gtaseg.cli import main
from gtaseg.visualize import colorize
from helpers import write_eval_images


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """folder/ with two 96x96 synthetic images and one 50x70 image; a list file naming one more."""
    root = tmp_path_factory.mktemp("inputs")
    images, masks = write_eval_images(root / "folder", 2)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(root / "folder" / "odd.jpg")
    (root / "lists" / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(root / "lists" / "sub" / "listed.bmp")
    (root / "lists" / "files.txt").write_text("# one per line, relative to this folder\n\nsub/listed.bmp\n")
    return {"root": root, "folder": root / "folder", "list": root / "lists" / "files.txt", "img0": images[0],
            "img1": images[1], "mask0": masks[0], "mask1": masks[1]}


def test_predict_writes_palette_masks_and_overlays(run, inputs, tmp_path, capsys):
    ckpt = run / "checkpoints" / "best.pt"
    out = tmp_path / "out"
    rc = main(["predict", str(ckpt), str(inputs["folder"]), str(inputs["list"]), "--out", str(out),
               "--device", "cpu", "--batch-size", "4", "--quiet"])
    assert rc == 0
    assert "wrote 4 masks" in capsys.readouterr().out
    model = load_model(ckpt, device="cpu")
    paths = [inputs["folder"] / n for n in ("img0.png", "img1.png", "odd.jpg")]
    paths.append(inputs["list"].parent / "sub" / "listed.bmp")
    images = [np.array(Image.open(p).convert("RGB")) for p in paths]
    expected = model.predict_batch(images, batch_size=4)  # same grouping as the command
    flat_palette = [v for c in model.palette for v in c]
    for p, img, exp in zip(paths, images, expected):
        png = Image.open(out / f"{p.stem}.png")
        assert png.mode == "P"
        assert png.getpalette()[: len(flat_palette)] == flat_palette
        idx = np.array(png)
        assert idx.shape == img.shape[:2]
        np.testing.assert_array_equal(idx, exp)
        agree = (idx == model.predict(img)).mean()  # one image at a time: equal up to rounding ties
        assert agree > 0.999
        ov = Image.open(out / f"{p.stem}_overlay.jpg")
        assert ov.size == (img.shape[1], img.shape[0]) and ov.mode == "RGB"
        colour = np.array(colorize(idx, model.palette)).astype(float)
        err = np.abs(np.array(ov).astype(float) - (0.5 * img + 0.5 * colour)).mean()
        other = np.abs(np.array(ov).astype(float) - (0.7 * img + 0.3 * colour)).mean()
        assert err < 5 and err < other / 2  # JPEG loses a little (noisy test images); alpha 0.5 fits far better


def test_predict_overrides_after_options(run, inputs, tmp_path):
    ckpt = run / "checkpoints" / "latest.pt"
    out = tmp_path / "out"
    overrides = ["eval.mode=sliding", "eval.window=48", "eval.stride=24"]
    rc = main(["predict", str(ckpt), str(inputs["img0"]), "--out", str(out), "--device", "cpu", "--quiet",
               "--model", "student", "--batch-size", "1", *overrides])
    assert rc == 0
    model = load_model(ckpt, model="student", device="cpu", overrides=overrides)
    np.testing.assert_array_equal(np.array(Image.open(out / "img0.png")), model.predict(inputs["img0"]))


def test_predict_errors_name_the_file(run, inputs, tmp_path, capsys):
    ckpt = str(run / "checkpoints" / "best.pt")
    out = str(tmp_path / "out")
    assert main(["predict", ckpt, str(tmp_path / "missing.jpg"), "--out", out]) == 2
    assert "missing.jpg does not exist" in capsys.readouterr().err
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert main(["predict", ckpt, str(bad), "--out", out, "--device", "cpu", "--quiet"]) == 2
    assert "corrupt.png" in capsys.readouterr().err
    listed = tmp_path / "list.txt"
    listed.write_text("gone.png\n")
    assert main(["predict", ckpt, str(listed), "--out", out]) == 2
    assert "line 1" in capsys.readouterr().err
    assert main(["predict", ckpt, str(inputs["img0"]), str(inputs["mask0"]), "--out", out, "--device", "cpu"]) == 2
    assert "would both write img0.png" in capsys.readouterr().err
    assert main(["predict", ckpt, str(inputs["img0"]), "--out", str(inputs["folder"]), "--device", "cpu"]) == 2
    assert "overwrite an input" in capsys.readouterr().err


def _find_tile(grid: np.ndarray, tile: np.ndarray, x_range: range, y_range: range) -> int | None:
    """Top row where `tile` appears exactly in the grid (left edge within x_range), else None."""
    h, w = tile.shape[:2]
    for y in y_range:
        for x in x_range:
            if np.array_equal(grid[y : y + h, x : x + w], tile):
                return y
    return None


def test_compare_grid(run, inputs, tmp_path, capsys):
    best, latest = run / "checkpoints" / "best.pt", run / "checkpoints" / "latest.pt"
    out = tmp_path / "grid.png"
    rc = main(["compare", str(best), str(latest), "--images", str(inputs["img0"]), str(inputs["img1"]),
               "--masks", str(inputs["mask0"]), str(inputs["mask1"]), "--labels", "A", "B", "--out", str(out),
               "--device", "cpu", "--tile-height", "96"])
    assert rc == 0 and "2 images x 2 models" in capsys.readouterr().out
    grid = np.array(Image.open(out).convert("RGB"))
    model = load_model(best, device="cpu")
    tile_w = 96 + 4
    # Tiles at scale 1: row r, column c holds exactly the colourised prediction / ground truth.
    for r, (img, gt) in enumerate(((inputs["img0"], inputs["mask0"]), (inputs["img1"], inputs["mask1"]))):
        pred = np.array(colorize(model.predict(img), model.palette))
        truth = np.array(colorize(np.array(Image.open(gt)), model.palette))
        rows = range(0, 80 + r * 100)
        top = _find_tile(grid, np.array(Image.open(img).convert("RGB")), range(0, 8), rows)
        assert top is not None
        assert _find_tile(grid, pred, range(tile_w, tile_w + 8), range(top, top + 1)) == top
        assert _find_tile(grid, truth, range(3 * tile_w, 3 * tile_w + 8), range(top, top + 1)) == top
    assert grid.shape[1] == 4 * 96 + 5 * 4  # image, A, B, ground truth
    legend = grid[top + 96 :]
    for colour in model.palette[1:]:  # every class swatch is in the legend
        assert (legend == colour).all(-1).sum() > 20


def test_compare_without_masks_and_errors(run, inputs, tmp_path, capsys):
    best = str(run / "checkpoints" / "best.pt")
    out = tmp_path / "g.png"
    assert main(["compare", best, "--images", str(inputs["folder"]), "--out", str(out), "--device", "cpu",
                 "--tile-height", "64"]) == 0
    # Three images, the widest aspect 70/50 sets the tile: two columns, image | prediction.
    assert Image.open(out).size[0] == 2 * round(64 * 70 / 50) + 3 * 4
    assert main(["compare", best, "--images", str(inputs["img0"]), "--labels", "A", "B", "--out", str(out)]) == 2
    assert "--labels gives 2 names for 1 checkpoints" in capsys.readouterr().err
    assert main(["compare", best, "--images", str(inputs["img0"]), "--masks", str(inputs["mask0"]),
                 str(inputs["mask1"]), "--out", str(out)]) == 2
    assert "2 masks for 1 images" in capsys.readouterr().err


def test_predict_never_overwrites_an_input_overlay(run, tmp_path, capsys):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ("a.png", "a_overlay.jpg"):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / name)
    before = (folder / "a_overlay.jpg").read_bytes()
    assert main(["predict", str(run), str(folder), "--out", str(folder), "--device", "cpu", "--quiet"]) == 2
    assert "would overwrite an input image" in capsys.readouterr().err
    assert (folder / "a_overlay.jpg").read_bytes() == before


def test_one_way_to_name_the_model_and_run_folders_everywhere(run, inputs, tmp_path, capsys):
    ckpt = run / "checkpoints" / "latest.pt"
    capsys.readouterr()
    assert main(["eval", str(run), "--model", "student"]) == 0  # a run folder stands for its latest.pt
    by_flag = capsys.readouterr().out
    assert main(["eval", str(ckpt), "model=student"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == by_flag.splitlines()[1:] and "model student" in by_flag
    assert main(["eval", str(ckpt), "--model", "teacher", "model=student"]) == 2
    assert "disagree" in capsys.readouterr().err
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["predict", str(run), str(inputs["img0"]), "model=student", "--out", str(a), "--quiet"]) == 0
    assert main(["predict", str(ckpt), str(inputs["img0"]), "--model", "student", "--out", str(b), "--quiet"]) == 0
    assert np.array_equal(np.array(Image.open(a / "img0.png")), np.array(Image.open(b / "img0.png")))
    assert main(["report", str(ckpt), "--out", str(tmp_path / "r.html"), "--examples", "0"]) == 0
    assert str(run) in (tmp_path / "r.html").read_text()
    assert main(["eval", str(tmp_path)]) == 2
    assert "without checkpoints/latest.pt" in capsys.readouterr().err


def test_eval_results_of_other_checkpoints_and_modes_get_their_own_files(run, capsys):
    ckpt = run / "checkpoints"
    assert main(["eval", str(ckpt / "best.pt")]) == 0
    assert main(["eval", str(ckpt / "latest.pt"), "eval.mode=sliding", "eval.window=64", "eval.stride=32",
                 "eval.flip=true"]) == 0
    names = {p.name for p in (run / "eval").iterdir()}
    assert {"val_teacher_best.json", "val_teacher_sliding64s32_flip.json"} <= names
