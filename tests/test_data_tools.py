"""`gtaseg data split` and `gtaseg data check` on generated folder datasets."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtaseg.cli import main
from gtaseg.config import load_config
from gtaseg.data import build_datasets
from gtaseg.data.tools import check_data, split_folder


def make_folder(root: Path, n: int = 16, rare: int = 3, unmasked: int = 2) -> Path:
    """n images with masks of classes 0/1; class 2 only in image `rare`; `unmasked` images without masks."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n + unmasked):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / "images" / f"im{i:02d}.png")
        if i < n:
            mask = np.zeros((8, 8), np.uint8)
            mask[4:] = 1
            if i == rare:
                mask[0, 0] = 2
            Image.fromarray(mask).save(root / "masks" / f"im{i:02d}.png")
    return root


def test_split_is_reproducible_disjoint_and_keeps_unmasked_images_unlabeled(tmp_path):
    root = make_folder(tmp_path / "d")
    a = split_folder(root, "1/4", seed=3, val="2")
    assert len(a["labeled"]) == 4 and len(a["val"]) == 2  # 1/4 of the 14 masked images left after val
    assert not set(a["labeled"]) & set(a["unlabeled"]) and not set(a["val"]) & set(a["unlabeled"] + a["labeled"])
    assert {"im16", "im17"} <= set(a["unlabeled"])  # no mask: unlabeled only
    assert len(a["labeled"]) + len(a["unlabeled"]) + len(a["val"]) == 18
    assert (root / "splits/1_4_seed3/labeled.txt").read_text().split() == a["labeled"]
    assert split_folder(root, "1/4", seed=3, val="2") == a  # same seed, same lists (no overwrite complaint)
    with pytest.raises(FileExistsError, match="exists with other ids"):
        split_folder(root, "1/4", seed=4, val="2", name="1_4_seed3")
    overrides = ["data.dataset=folder", f"data.root={root}", "data.split=1_4_seed3", "data.num_classes=3"]
    cfg = load_config("demo", overrides)
    data = build_datasets(cfg.data)
    assert (len(data.labeled), len(data.unlabeled), len(data.eval)) == (4, 12, 2)


def test_stratified_split_puts_every_class_in_the_labeled_set(tmp_path):
    root = make_folder(tmp_path / "d")
    for seed in range(5):
        lists = split_folder(root, "2", seed=seed, stratify=True, name=f"s{seed}")
        assert "im03" in lists["labeled"] and len(lists["labeled"]) == 2


def test_split_errors_name_the_fix(tmp_path, capsys):
    root = make_folder(tmp_path / "d")
    assert main(["data", "split", str(root), "--labeled", "40"]) == 2
    assert "gives 40 images, but there are 16" in capsys.readouterr().err
    assert main(["data", "split", str(tmp_path), "--labeled", "1/8"]) == 2
    assert "holds no .jpg/.jpeg/.png images; the folder layout is" in capsys.readouterr().err


def test_check_finds_problems_before_training(tmp_path, capsys):
    root = make_folder(tmp_path / "d")
    split_folder(root, "4", seed=0, val="2", name="s")
    labeled = (root / "splits/s/labeled.txt").read_text().split()
    (root / "splits/s/unlabeled.txt").write_text("\ufeff" + labeled[0] + "\n" + labeled[0] + "\n")  # BOM, overlap, dup
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(root / "masks" / f"{labeled[1]}.png")  # value 7 of 3 classes
    args = ["data.dataset=folder", f"data.root={root}", "data.split=s", "data.num_classes=3"]
    assert main(["data", "check", "demo", *args]) == 1
    out = capsys.readouterr().out
    assert "byte-order mark" in out and "more than once" in out and "in both the labeled list" in out
    assert f"{labeled[1]}.png: mask values [7]" in out
    assert "labeled pixels per class:" in out and "error(s)" in out


def test_check_warns_about_classes_missing_from_the_labeled_set(tmp_path):
    root = make_folder(tmp_path / "d", rare=99)  # class 2 nowhere
    split_folder(root, "4", seed=0, val="2", name="s")
    cfg = load_config("demo", ["data.dataset=folder", f"data.root={root}", "data.split=s", "data.num_classes=3"])
    report = check_data(cfg.data, build_datasets(cfg.data), progress=False)
    assert not report.errors and any("class2 never appear" in w for w in report.warnings)
    assert report.histogram[2] == 0 and report.histogram[0] == report.histogram[1] > 0


def test_binary_0_255_masks_are_caught_not_scored_100(tmp_path):
    root = make_folder(tmp_path / "d", rare=99)
    for p in (root / "masks").iterdir():
        Image.fromarray((np.array(Image.open(p)) > 0).astype(np.uint8) * 255).save(p)
    split_folder(root, "4", seed=0, val="2", name="s")
    args = ["data.dataset=folder", f"data.root={root}", "data.split=s", "data.num_classes=2"]
    report = check_data(load_config("demo", args).data, build_datasets(load_config("demo", args).data), False)
    assert any("binary masks? make 255 the second class with data.label_map={255: 1}" in e for e in report.errors)
    fixed = load_config("demo", [*args, "data.label_map={255: 1}", "data.ignore_index=254"]).data
    data = build_datasets(fixed)
    assert not check_data(fixed, data, False).errors and set(data.eval[0]["mask"].unique().tolist()) == {0, 1}


def test_colour_coded_masks_map_to_classes(tmp_path):
    root = make_folder(tmp_path / "d")
    colours = [[0, 0, 0], [200, 10, 10], [10, 200, 10]]
    for p in (root / "masks").iterdir():
        idx = np.array(Image.open(p))
        Image.fromarray(np.array(colours, np.uint8)[idx]).save(p)  # RGB PNG
    rgb = np.array(Image.open(root / "masks" / "im00.png").convert("RGB"))
    rgb[0, 1] = [9, 9, 250]  # a void colour
    Image.fromarray(rgb).save(root / "masks" / "im00.png")
    split_folder(root, "4", seed=0, val="2", name="s")
    args = ["data.dataset=folder", f"data.root={root}", "data.split=s", "data.num_classes=3",
            "data.mask_colors=[[0,0,0],[200,10,10],[10,200,10]]"]
    with pytest.raises(ValueError, match=r"mask values \[\(9, 9, 250\)\] .* data.ignore_colors \(void\)"):
        data = build_datasets(load_config("demo", args).data)
        [data.eval[i] for i in range(len(data.eval))] + [data.labeled[i] for i in range(len(data.labeled))] + \
            [data.unlabeled[i] for i in range(len(data.unlabeled))]
    data = build_datasets(load_config("demo", [*args, "data.ignore_colors=[[9,9,250]]"]).data)
    from gtaseg.data.datasets import read_mask

    ds = data.unlabeled if any(s.name == "im00" for s in data.unlabeled.samples) else data.labeled
    i = next(k for k, s in enumerate(ds.samples) if s.name == "im00")
    mask = ds.luts["default"][read_mask(ds.samples[i].mask, rgb=True)]
    assert mask[0, 0] == 0 and mask[0, 1] == 255 and mask[7, 7] == 1 and mask[0, 3] == 0
    assert data.palette[1] == (200, 10, 10)
