"""Data layer: readers on tiny generated trees, mask mapping, errors, transforms, synthetic data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from torch.utils.data import default_collate

from gtaseg.config import DataConfig
from gtaseg.data import DATASETS, build_datasets
from gtaseg.data.synthetic import CLASS_NAMES
from gtaseg.data.transforms import TrainTransform

CAMVID = Path("/work/shared/data/camvid")


def make_cfg(**kw) -> DataConfig:
    """Small synthetic data unless told otherwise; no augmentation."""
    base = dict(
        crop_size=32, scale_range=(1.0, 1.0), hflip=False,
        synthetic_num_labeled=4, synthetic_num_unlabeled=4, synthetic_num_eval=6, synthetic_size=48,
    )  # fmt: skip
    return DataConfig(**{**base, **kw})


def save_image(path: Path, h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def save_mask(path: Path, arr: np.ndarray, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr.astype(np.uint8))
    if palette:  # colours that differ from the indices: reading must give indices, not colours
        im.putpalette([(i * 37) % 256 for i in range(768)])
        assert im.mode == "P"
    im.save(path)


def write_list(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n\n")  # trailing blank lines must be ignored


def mask_with(values: list[int], h: int = 12, w: int = 16) -> np.ndarray:
    return np.resize(np.array(values, np.uint8), (h, w))


# --------------------------------------------------------------------------------------- registry
def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="valid: synthetic, folder, voc, cityscapes, camvid"):
        build_datasets(make_cfg(dataset="imagenet"))
    assert set(DATASETS) == {"synthetic", "folder", "voc", "cityscapes", "camvid"}


@pytest.mark.parametrize("name,n", [("voc", 21), ("cityscapes", 19), ("camvid", 11)])
def test_num_classes_contradicting_fixed_dataset(tmp_path, name, n):
    with pytest.raises(ValueError, match=rf"data.num_classes=5 contradicts dataset '{name}', which has {n} classes"):
        build_datasets(make_cfg(dataset=name, root=str(tmp_path), split="x", num_classes=5))


# -------------------------------------------------------------------------------------------- VOC
VOC_IDS = ["2007_000033", "2007_000042", "2007_000061", "2007_000123"]


@pytest.fixture
def voc_tree(tmp_path):
    root, splits = tmp_path / "voc", tmp_path / "pascal"
    for k, i in enumerate(VOC_IDS):
        save_image(root / "JPEGImages" / f"{i}.jpg", seed=k)
        save_mask(root / "SegmentationClassAug" / f"{i}.png", mask_with([0, 5, 20, 255, k]), palette=k % 2 == 0)
    write_list(splits / "92" / "labeled.txt", VOC_IDS[:2])
    write_list(splits / "92" / "unlabeled.txt", VOC_IDS[2:3])
    write_list(splits / "val.txt", VOC_IDS[3:])
    return make_cfg(dataset="voc", root=str(root), split="92", split_dir=str(splits), crop_size=8)


def test_voc_reads_indices_and_splits(voc_tree):
    b = build_datasets(voc_tree)
    assert (len(b.labeled), len(b.unlabeled), len(b.eval)) == (2, 1, 1)
    assert b.num_classes == 21 and len(b.class_names) == 21 and b.class_names[15] == "person"
    assert b.palette[:3] == [(0, 0, 0), (128, 0, 0), (0, 128, 0)] and len(b.palette) == 21
    item = b.eval[0]
    assert item["name"] == "2007_000123" and item["image"].shape == (3, 12, 16)
    assert item["image"].dtype == torch.uint8 and item["mask"].dtype == torch.int64
    assert torch.equal(item["mask"], torch.from_numpy(mask_with([0, 5, 20, 255, 3]).astype(np.int64)))
    # unlabeled VOC ids have masks on disk: they are used (palette mask, read as indices)
    u = b.unlabeled[0]
    assert u["image"].shape == (3, 8, 8) and set(u["mask"].unique().tolist()) <= {0, 2, 5, 20, 255}
    assert 2 in build_datasets(replace(voc_tree, crop_size=64)).unlabeled[0]["mask"]


def test_voc_full_split_is_all_training_images(voc_tree):
    b = build_datasets(replace(voc_tree, split="full"))
    assert len(b.labeled) == 3 and len(b.unlabeled) == 0


def test_unknown_split_and_missing_test_list(voc_tree):
    with pytest.raises(ValueError, match=r"data.split='183'.*valid: 92, full"):
        build_datasets(replace(voc_tree, split="183"))
    with pytest.raises(FileNotFoundError, match=r"pascal/test.txt does not exist"):
        build_datasets(replace(voc_tree, eval_split="test"))


def test_packaged_split_lists_are_complete():
    from gtaseg.data.datasets import PACKAGED_SPLITS

    voc = PACKAGED_SPLITS / "pascal"
    for n in (92, 183, 366, 732, 1464, 662, 1323, 2646, 5291):
        lab = (voc / str(n) / "labeled.txt").read_text().split()
        unl = (voc / str(n) / "unlabeled.txt").read_text().split()
        assert len(lab) == n and len(set(lab + unl)) == 10582
    assert len((voc / "val.txt").read_text().split()) == 1449
    cs = PACKAGED_SPLITS / "cityscapes"
    for n in (100, 186, 372, 744, 1488):
        assert len((cs / str(n) / "labeled.txt").read_text().split()) == n
    assert "534f10f" in (PACKAGED_SPLITS / "README.md").read_text()
    assert (PACKAGED_SPLITS / "LICENSE-Apache-2.0-GTA-Seg").is_file()


# ------------------------------------------------------------------------------------- Cityscapes
def test_cityscapes_train_ids_and_label_ids_conversion(tmp_path):
    root, splits = tmp_path / "cs", tmp_path / "lists"
    a = "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    c = "leftImg8bit/train/bonn/bonn_000001_000019_leftImg8bit.png"
    v = "leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png"
    for k, e in enumerate((a, c, v)):
        save_image(root / e, seed=k)
    save_mask(root / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png", mask_with([0, 18, 255]))
    # labelIds only: converted on the fly
    save_mask(root / "gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png", mask_with([7, 26, 0, 33, 11, 4]))
    write_list(splits / "100" / "labeled.txt", [a])
    write_list(splits / "100" / "unlabeled.txt", [c])  # no label on disk: all ignore
    write_list(splits / "val.txt", [v])
    cfg = make_cfg(dataset="cityscapes", root=str(root), split="100", split_dir=str(splits), crop_size=64)
    b = build_datasets(cfg)
    assert b.num_classes == 19 and b.class_names[13] == "car" and b.palette[0] == (128, 64, 128)
    ev = b.eval[0]
    assert ev["name"] == "lindau_000000_000019"
    expected = mask_with([0, 13, 255, 18, 2, 255]).astype(np.int64)  # road, car, void, bicycle, building, void
    assert torch.equal(ev["mask"], torch.from_numpy(expected))
    lab = b.labeled[0]["mask"]
    assert set(lab.unique().tolist()) == {0, 18, 255}
    assert (b.unlabeled[0]["mask"] == 255).all()
    full = replace(cfg, split="full")  # everything labeled: every mask must exist
    with pytest.raises(FileNotFoundError, match="bonn_000001_000019_gtFine_labelTrainIds.png"):
        build_datasets(full)
    save_mask(root / "gtFine/train/bonn/bonn_000001_000019_gtFine_labelIds.png", mask_with([24]))
    b = build_datasets(full)
    assert len(b.labeled) == 2 and len(b.unlabeled) == 0
    assert set(b.labeled[1]["mask"].unique().tolist()) <= {11, 255}  # person (labelId 24) + padding


# ----------------------------------------------------------------------------------------- CamVid
def test_camvid_void_11_becomes_ignore(tmp_path):
    root = tmp_path / "camvid"
    for k, i in enumerate(["a", "b", "c", "d"]):
        save_image(root / "images" / f"{i}.jpg", seed=k)
        save_mask(root / "labels" / f"{i}.png", mask_with([0, 10, 11, 3]))
    write_list(root / "splits" / "1_8" / "labeled.txt", ["a"])
    write_list(root / "splits" / "1_8" / "unlabeled.txt", ["b"])
    write_list(root / "splits" / "train.txt", ["a", "b"])
    write_list(root / "splits" / "val.txt", ["c"])
    write_list(root / "splits" / "test.txt", ["d"])
    b = build_datasets(make_cfg(dataset="camvid", root=str(root), split="1_8", eval_split="test"))
    assert b.eval[0]["name"] == "d" and b.class_names[0] == "Sky" and len(b.palette) == 11
    assert torch.equal(b.eval[0]["mask"], torch.from_numpy(mask_with([0, 10, 255, 3]).astype(np.int64)))
    assert set(b.unlabeled[0]["mask"].unique().tolist()) <= {0, 3, 10, 255}  # ground truth kept
    full = build_datasets(make_cfg(dataset="camvid", root=str(root), split="full"))
    assert (len(full.labeled), len(full.unlabeled), full.eval[0]["name"]) == (2, 0, "c")


@pytest.mark.skipif(not CAMVID.is_dir(), reason="real CamVid not available")
def test_real_camvid_splits():
    b = build_datasets(make_cfg(dataset="camvid", root=str(CAMVID), split="1_8", eval_split="test", crop_size=64))
    assert (len(b.labeled), len(b.unlabeled), len(b.eval)) == (46, 321, 233)
    assert len(build_datasets(make_cfg(dataset="camvid", root=str(CAMVID), split="1_8")).eval) == 101
    item = b.eval[0]
    assert item["image"].shape == (3, 360, 480) and item["mask"].shape == (360, 480)
    values = set(item["mask"].unique().tolist())
    assert values <= set(range(11)) | {255} and len(values) > 3
    assert b.labeled[0]["mask"].shape == (64, 64)


# ----------------------------------------------------------------------------------------- folder
@pytest.fixture
def folder_tree(tmp_path):
    root = tmp_path / "mine"
    save_image(root / "images" / "p.png", seed=1)
    save_mask(root / "masks" / "p.png", mask_with([0, 1, 2, 255]), palette=True)
    save_image(root / "images" / "i.jpeg", seed=2)
    save_mask(root / "masks" / "i.png", mask_with([2, 0, 1]))
    save_image(root / "images" / "u.jpg", seed=3)  # unlabeled, no mask
    write_list(root / "splits" / "s1" / "labeled.txt", ["p", "i"])
    write_list(root / "splits" / "s1" / "unlabeled.txt", ["u", "i"])
    write_list(root / "splits" / "val.txt", ["p"])
    return make_cfg(dataset="folder", root=str(root), split="s1", num_classes=3, crop_size=64)


def test_folder_palette_and_index_masks(folder_tree):
    b = build_datasets(folder_tree)
    assert b.class_names == ["class0", "class1", "class2"] and len(b.palette) == 3
    assert torch.equal(b.eval[0]["mask"], torch.from_numpy(mask_with([0, 1, 2, 255]).astype(np.int64)))
    assert torch.equal(b.labeled[1]["mask"][:12, :16], torch.from_numpy(mask_with([2, 0, 1]).astype(np.int64)))
    u_nomask, u_mask = b.unlabeled[0], b.unlabeled[1]
    assert u_nomask["name"] == "u" and (u_nomask["mask"] == 255).all()
    assert set(u_mask["mask"].unique().tolist()) == {0, 1, 2, 255}  # ground truth + padding
    batch = default_collate([b.labeled[0], b.labeled[1]])
    assert batch["image"].shape == (2, 3, 64, 64) and batch["mask"].shape == (2, 64, 64)


def test_folder_label_map_and_ignore_index(tmp_path, folder_tree):
    root = Path(folder_tree.root)
    save_mask(root / "masks" / "p.png", mask_with([10, 20, 30, 0]))
    cfg = replace(folder_tree, label_map={10: 0, 20: 1, 30: 255}, ignore_index=0)
    expected = mask_with([0, 1, 255, 255]).astype(np.int64)
    assert torch.equal(build_datasets(cfg).eval[0]["mask"], torch.from_numpy(expected))
    # without the map the raw values are an error naming the file, the values and the fix
    with pytest.raises(ValueError, match=r"masks/p.png: mask values \[10, 20, 30\].*data.label_map"):
        build_datasets(replace(folder_tree, ignore_index=0)).eval[0]


def test_folder_config_errors(folder_tree):
    with pytest.raises(ValueError, match="needs the number of classes"):
        build_datasets(replace(folder_tree, num_classes=0))
    with pytest.raises(ValueError, match="data.class_names has 2 names but data.num_classes=3"):
        build_datasets(replace(folder_tree, class_names=["a", "b"]))
    with pytest.raises(ValueError, match="data.label_map entry 7: 9 is invalid"):
        build_datasets(replace(folder_tree, label_map={7: 9}))
    with pytest.raises(ValueError, match=r"data.split='s2'.*valid: s1, full"):
        build_datasets(replace(folder_tree, split="s2"))
    with pytest.raises(FileNotFoundError, match=r"splits/test.txt does not exist"):
        build_datasets(replace(folder_tree, eval_split="test"))


def test_bad_mask_values_size_mismatch_and_missing(folder_tree):
    root = Path(folder_tree.root)
    save_mask(root / "masks" / "p.png", mask_with([0, 1, 7, 200]))
    with pytest.raises(ValueError, match=r"masks/p.png: mask values \[7, 200\] .*0..2.*data.ignore_index"):
        build_datasets(folder_tree).eval[0]
    save_mask(root / "masks" / "p.png", mask_with([0, 1], h=10, w=16))
    with pytest.raises(ValueError, match=r"images/p.png is 16x12 but its mask .*masks/p.png is 16x10"):
        build_datasets(folder_tree).eval[0]
    write_list(root / "splits" / "s1" / "labeled.txt", ["p", "gone1", "gone2"])
    missing = r"(?s)2 file\(s\) for the entries of .*labeled.txt.*gone1.*Check data.root"
    with pytest.raises(FileNotFoundError, match=missing):
        build_datasets(folder_tree)
    (root / "masks" / "i.png").unlink()  # labeled/eval masks are required, unlabeled ones are not
    write_list(root / "splits" / "s1" / "labeled.txt", ["i"])
    with pytest.raises(FileNotFoundError, match=r"masks/i.png"):
        build_datasets(folder_tree)


def test_truncated_image_is_an_error(folder_tree, monkeypatch):
    path = Path(folder_tree.root) / "images" / "p.png"
    save_image(path, h=64, w=64)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # even when someone allowed it
    with pytest.raises(ValueError, match=r"cannot read .*images/p.png.*truncated"):
        build_datasets(folder_tree).eval[0]
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


# ------------------------------------------------------------------------------------- transforms
def test_transform_pads_with_zero_and_ignore():
    image = torch.full((3, 4, 5), 7, dtype=torch.uint8)
    mask = torch.ones(4, 5, dtype=torch.uint8)
    img, msk, valid = TrainTransform(8, (1.0, 1.0), hflip=False)(image, mask)
    assert img.shape == (3, 8, 8) and msk.shape == (8, 8)
    assert valid[:4, :5].all() and not valid[4:].any() and not valid[:, 5:].any()
    assert (img[:, :4, :5] == 7).all() and (msk[:4, :5] == 1).all()
    assert (img[:, 4:] == 0).all() and (img[:, :, 5:] == 0).all()
    assert (msk[4:] == 255).all() and (msk[:, 5:] == 255).all()


def test_transform_keeps_image_and_mask_aligned_and_flips_both():
    g = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 10, (20, 30), generator=g, dtype=torch.uint8)
    image = torch.stack([mask * 20, mask, torch.arange(30, dtype=torch.uint8).expand(20, 30)])
    t = TrainTransform(16, (1.0, 1.0), hflip=True)
    torch.manual_seed(0)
    flips = set()
    for _ in range(20):
        img, msk, valid = t(image, mask)
        assert valid.all()
        assert img.shape == (3, 16, 16) and msk.shape == (16, 16)
        assert torch.equal(img[0], msk * 20)  # same crop and same flip
        flips.add(bool(img[2, 0, 0] > img[2, 0, -1]))  # column index decreasing: flipped
    assert flips == {True, False}


def test_transform_scales_and_is_reproducible():
    mask = torch.randint(0, 5, (10, 10), dtype=torch.uint8)
    image = torch.randint(0, 256, (3, 10, 10), dtype=torch.uint8)
    img, msk, _ = TrainTransform(20, (2.0, 2.0), hflip=False)(image, mask)
    assert torch.equal(msk, mask.repeat_interleave(2, 0).repeat_interleave(2, 1))  # nearest, exact x2
    assert img.dtype == torch.uint8
    t = TrainTransform(12, (0.5, 2.0), hflip=True)
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append([t(image, mask) for _ in range(3)])
    for (i1, m1, v1), (i2, m2, v2) in zip(*outs):
        assert torch.equal(i1, i2) and torch.equal(m1, m2) and torch.equal(v1, v2) and i1.shape == (3, 12, 12)
    with pytest.raises(ValueError, match="data.scale_range"):
        TrainTransform(8, (2.0, 1.0))


# -------------------------------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_per_seed():
    a, b = build_datasets(make_cfg()), build_datasets(make_cfg())
    c = build_datasets(make_cfg(seed=1))
    for i in range(3):
        assert torch.equal(a.eval[i]["image"], b.eval[i]["image"])
        assert torch.equal(a.eval[i]["mask"], b.eval[i]["mask"])
        assert not torch.equal(a.eval[i]["image"], c.eval[i]["image"])
    assert not torch.equal(a.eval[0]["image"], a.unlabeled.__class__(1, 48, 5, 0, "unlabeled")[0]["image"])
    torch.manual_seed(0)
    x = a.labeled[0]
    torch.manual_seed(0)
    assert torch.equal(x["image"], b.labeled[0]["image"])


def test_synthetic_items_and_classes():
    b = build_datasets(make_cfg(crop_size=40, scale_range=(0.5, 2.0), hflip=True))
    assert b.num_classes == 5 and b.class_names == list(CLASS_NAMES[:5]) and len(b.palette) == 5
    item = b.labeled[0]
    assert item["image"].shape == (3, 40, 40) and item["image"].dtype == torch.uint8
    assert item["mask"].shape == (40, 40) and item["mask"].dtype == torch.int64
    assert b.eval[0]["image"].shape == (3, 48, 48) and len(b.unlabeled) == 4
    present = set()
    for i in range(6):
        present |= set(b.eval[i]["mask"].unique().tolist())
    assert present == set(range(5))  # every class appears, no ignore in ground truth
    seven = build_datasets(make_cfg(num_classes=7, synthetic_num_eval=10))
    assert max(int(seven.eval[i]["mask"].max()) for i in range(10)) == 6
    with pytest.raises(ValueError, match="num_classes=9 is not possible for dataset 'synthetic'"):
        build_datasets(make_cfg(num_classes=9))
    assert len(build_datasets(make_cfg(synthetic_num_unlabeled=0)).unlabeled) == 0


def test_camvid_without_split_lists_uses_the_packaged_ones(tmp_path):
    from gtaseg.data.datasets import PACKAGED_SPLITS

    lists = PACKAGED_SPLITS / "camvid"
    labeled = (lists / "1_16" / "labeled.txt").read_text().split()
    unlabeled = (lists / "1_16" / "unlabeled.txt").read_text().split()
    val = (lists / "val.txt").read_text().split()
    assert (len(labeled), len(unlabeled), len(val)) == (23, 344, 101)
    root = tmp_path / "camvid"  # images and labels only, as a user downloads them
    for i in labeled + unlabeled + val:
        save_image(root / "images" / f"{i}.jpg", h=4, w=4)
        save_mask(root / "labels" / f"{i}.png", np.zeros((4, 4), np.uint8))
    b = build_datasets(make_cfg(dataset="camvid", root=str(root), split="1_16"))
    assert (len(b.labeled), len(b.unlabeled), len(b.eval)) == (23, 344, 101)


def test_images_are_read_the_way_they_look(tmp_path):
    from gtaseg.data.datasets import read_image, read_mask
    from gtaseg.predict import image_size

    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :5] = 255  # a white band on the left of the stored pixels
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    im.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    up = read_image(str(tmp_path / "phone.jpg"))
    assert up.shape == (20, 10, 3) and image_size(tmp_path / "phone.jpg") == (20, 10)
    assert up[:5].mean() > 200 and up[-5:].mean() < 50  # the band is now on top, as viewers show it
    deep = (np.arange(16 * 16).reshape(16, 16) * 256).astype(np.uint16)  # 0..65280
    Image.fromarray(deep).save(tmp_path / "deep.png")
    grey = read_image(str(tmp_path / "deep.png"))
    assert grey.dtype == np.uint8 and grey[..., 0].max() >= 250 and grey[0, 1, 0] == 1  # scaled, not clipped
    assert len(np.unique(grey)) > 200
    mask = np.zeros((10, 20), np.uint8)
    mask[:, :5] = 1
    m = Image.fromarray(mask)
    m.save(tmp_path / "mask.png", exif=exif)
    assert read_mask(str(tmp_path / "mask.png")).shape == (20, 10)


def test_an_unreadable_file_is_not_called_corrupt(tmp_path, monkeypatch):
    from gtaseg.data import datasets

    save_image(tmp_path / "a.png")

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(datasets.Image, "open", denied)
    with pytest.raises(PermissionError, match="permission denied; make the file readable") as err:
        datasets.read_image(str(tmp_path / "a.png"))
    assert "corrupt" not in str(err.value)


def test_a_huge_image_gets_a_clear_message(tmp_path, monkeypatch):
    from gtaseg.data import datasets

    save_image(tmp_path / "big.png", h=40, w=40)
    monkeypatch.setattr(datasets.Image, "MAX_IMAGE_PIXELS", 100)  # 40x40 is then over twice the limit
    with pytest.raises(ValueError, match="larger than the 100 pixels PIL reads safely; downscale it") as err:
        datasets.read_image(str(tmp_path / "big.png"))
    assert "corrupt" not in str(err.value)
