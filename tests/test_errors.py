"""Bad input gives one readable line on stderr, exit code 2, and no traceback (issue: faults)."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtaseg.cli import main
from gtaseg.config import ConfigError

TINY = ["model.aspp_channels=16", "model.decoder_channels=16", "model.low_level_channels=8", "data.crop_size=16",
        "train.iters=2", "train.progress=false", "method.warmup_iters=1", "data.batch_size=2",
        "data.unlabeled_batch_size=2"]


def folder(root: Path, mask_values=(0, 1, 2), size_mismatch=False, truncated=False, missing=False, unlabeled=True):
    rng = np.random.default_rng(0)
    ids = [f"im{i}" for i in range(4)]
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in ids:
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        h = 20 if size_mismatch and i == "im1" else 24
        Image.fromarray(np.resize(np.array(mask_values, np.uint8), (h, 24))).save(root / "masks" / f"{i}.png")
    if truncated:
        data = (root / "images/im0.png").read_bytes()
        (root / "images/im0.png").write_bytes(data[: len(data) // 2])
    (root / "splits/s1").mkdir(parents=True)
    (root / "splits/s1/labeled.txt").write_text("im0\nim1\n" + ("ghost1\nghost2\n" if missing else ""))
    if unlabeled:
        (root / "splits/s1/unlabeled.txt").write_text("im2\nim3\n")
    (root / "splits/val.txt").write_text("im2\nim3\n")
    return ["data.dataset=folder", f"data.root={root}", "data.split=s1", "data.num_classes=3"]


def fails(capsys, *argv) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 2
    text = capsys.readouterr().err.strip()
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in text and len(errors) == 1 and text.endswith(errors[0]), text  # one line, last
    return errors[0]


def train(tmp_path, capsys, *args):
    return fails(capsys, "train", "demo", *TINY, f"train.out_dir={tmp_path / 'run'}", *args)


def test_mask_value_out_of_range_names_file_and_values(tmp_path, capsys):
    err = train(tmp_path, capsys, *folder(tmp_path / "d", mask_values=(0, 1, 7)), "data.num_workers=1")
    assert "im0.png" in err and "7" in err and "label_map" in err


def test_size_mismatch(tmp_path, capsys):
    err = train(tmp_path, capsys, *folder(tmp_path / "d", size_mismatch=True), "data.num_workers=0")
    assert "im1.png" in err and "24x24" in err and "24x20" in err


def test_split_list_with_missing_files(tmp_path, capsys):
    err = train(tmp_path, capsys, *folder(tmp_path / "d", missing=True))
    assert "ghost1" in err and "labeled.txt" in err


def test_truncated_image(tmp_path, capsys):
    err = train(tmp_path, capsys, *folder(tmp_path / "d", truncated=True), "data.num_workers=0")
    assert "im0.png" in err


def test_empty_unlabeled_set_for_gta(tmp_path, capsys):
    err = train(tmp_path, capsys, *folder(tmp_path / "d", unlabeled=False), "method.name=gta")
    assert "needs unlabeled images" in err and "sup_only" in err


def test_num_classes_contradicting_dataset(tmp_path, capsys):
    err = train(tmp_path, capsys, "data.dataset=camvid", "data.root=/nonexistent", "data.num_classes=12")
    assert "num_classes" in err and "11" in err


def test_unknown_key_and_method(tmp_path, capsys):
    assert "valid keys of 'train'" in train(tmp_path, capsys, "train.iter=3")
    assert "sup_only, mean_teacher, gta" in train(tmp_path, capsys, "method.name=fixmatch")


def test_checkpoint_from_a_different_model(tmp_path, capsys):
    assert main(["train", "demo", *TINY, "data.synthetic_num_unlabeled=8", "data.synthetic_num_eval=2",
                 "data.num_workers=0", f"train.out_dir={tmp_path / 'run'}"]) == 0
    err = train(tmp_path, capsys, "model.backbone=resnet10t", "data.num_workers=0")  # resume into another model
    assert "model.backbone=resnet18" in err and "resnet10t" in err
    err = fails(capsys, "eval", str(tmp_path / "run/checkpoints/latest.pt"), "model.backbone=resnet10t")
    assert "do not fit model.backbone=resnet10t" in err
    bad = tmp_path / "junk.pt"
    bad.write_bytes(b"not a checkpoint")
    assert "cannot be read" in fails(capsys, "eval", str(bad))


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(ConfigError, match="train.iter"):
        main(["--debug", "train", "demo", "train.iter=3"])


def test_an_error_during_a_progress_bar_starts_its_own_line(tmp_path, capsys):
    from tqdm import tqdm

    from gtaseg.cli import close_progress_bars

    bar = tqdm(total=10, desc="gta")
    bar.update(3)
    close_progress_bars()
    print("error: x", file=sys.stderr)
    err = capsys.readouterr().err
    assert "\nerror: x" in err and "3/10" in err
