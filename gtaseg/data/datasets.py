"""Dataset readers (folder, camvid, voc, cityscapes, synthetic) and `build_datasets`.

Every item is {"image": uint8 [3,H,W] RGB, "mask": int64 [H,W], "name": str}. Masks use 255 as
ignore: each reader maps its own void value to 255 through a lookup table, and any raw value the
table does not know is an error (a silent wrong label is worse than a crash). File lists are
checked when a dataset is built, so a bad root or split fails before training starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps
from torch.utils.data import Dataset

from gtaseg.data import synthetic
from gtaseg.data.transforms import IGNORE, TrainTransform

PACKAGED_SPLITS = Path(__file__).resolve().parent / "splits"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")
FOLDER_LAYOUT = ("ROOT/images/ID.jpg|png, ROOT/masks/ID.png (class indices), ROOT/splits/NAME/labeled.txt "
                 "(+ unlabeled.txt), ROOT/splits/val.txt")

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip
# Cityscapes labelIds (0..33) of the 19 evaluated classes, in train-id order; all others are void.
CITYSCAPES_EVAL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
# Label files tried in order, with their lookup table: the 19-class file, else the raw labelIds.
CITYSCAPES_LABEL_FILES = (("labelTrainIds", "train_ids"), ("labelIds", "label_ids"))
CAMVID_CLASSES = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist",
)  # fmt: skip
CAMVID_PALETTE = (  # SegNet's colours
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
    (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
)  # fmt: skip


def voc_palette(n: int) -> list[tuple[int, int, int]]:
    """The PASCAL VOC colour map (bit-interleaved), defined for any number of classes."""
    out = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return out


@dataclass
class DatasetBundle:
    labeled: Dataset
    unlabeled: Dataset
    eval: Dataset
    num_classes: int
    class_names: list[str]
    palette: list[tuple[int, int, int]]


@dataclass(frozen=True)
class Sample:
    name: str
    image: str
    mask: str | None  # None: no ground truth on disk (unlabeled only); the item gets an all-255 mask
    lut: str = "default"  # key into SegmentationFiles.luts


# ----------------------------------------------------------------------------------------- reading
def _load_strict(im: Image.Image) -> None:
    # PIL pads truncated files with grey when LOAD_TRUNCATED_IMAGES is set (some libraries set it
    # globally); a half-grey training image must fail instead. DataLoader workers are processes,
    # each with its own copy of the flag.
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        im.load()
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _unreadable(path: str, err: Exception) -> ValueError:
    if isinstance(err, Image.DecompressionBombError):
        return ValueError(f"cannot read {path}: it is larger than the {Image.MAX_IMAGE_PIXELS} pixels PIL reads "
                          "safely; downscale it, or tile it into smaller images (for predict, also eval.mode=sliding)")
    return ValueError(
        f"cannot read {path}: {err}. The file is corrupt or truncated: re-export it or remove it from the split list"
    )


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, so pixels are laid out as viewers show the file (phone photos)."""
    return ImageOps.exif_transpose(im) or im


def upright_size(im: Image.Image) -> tuple[int, int]:
    """(H, W) of an opened image as read_image gives it, from the header (EXIF tags 5-8 swap the axes)."""
    w, h = im.size
    return (w, h) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (h, w)


def read_image(path: str) -> np.ndarray:
    """uint8 [H,W,3] RGB, upright (EXIF orientation applied); 16-bit images scaled to 0..255."""
    try:
        with Image.open(path) as im:
            _load_strict(im)
            im = _upright(im)
            if im.mode.startswith("I"):  # 16-bit greyscale (I;16*, or I from a 16-bit PNG): scale, never clip
                grey = np.array(im, dtype=np.float64) / 257.0
                return np.repeat(np.clip(grey + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
            return np.array(im.convert("RGB"))
    except PermissionError as e:
        raise PermissionError(f"cannot read {path}: permission denied; make the file readable "
                              f"(chmod a+r) for this user") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _unreadable(path, e) from e


def rgb_code(r: int, g: int, b: int) -> int:
    """One integer per colour, so RGB masks map to classes through the same lookup table as indices."""
    return (int(r) << 16) | (int(g) << 8) | int(b)


def read_mask(path: str, rgb: bool = False) -> np.ndarray:
    """Raw integer mask [H,W]; palette PNGs give their indices, never their colours. With `rgb`, a
    colour mask gives rgb_code of each pixel (data.mask_colors maps them to classes)."""
    try:
        with Image.open(path) as im:
            _load_strict(im)
            im = _upright(im)
            if im.mode in ("LA", "PA"):
                im = im.getchannel(0)
            raw = np.array(im)
    except PermissionError as e:
        raise PermissionError(f"cannot read {path}: permission denied; make the file readable "
                              f"(chmod a+r) for this user") from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _unreadable(path, e) from e
    if rgb:
        if raw.ndim == 2:  # a palette or grey file in a colour-coded dataset: its colours are what counts
            with Image.open(path) as im:
                raw = np.array(_upright(im).convert("RGB"))
        raw = raw[..., :3].astype(np.int64)
        return (raw[..., 0] << 16) | (raw[..., 1] << 8) | raw[..., 2]
    if raw.ndim == 3:  # RGB(A): fine only if grey (R == G == B), i.e. indices saved as colour
        if not ((raw[..., 0] == raw[..., 1]).all() and (raw[..., 0] == raw[..., 2]).all()):
            raise ValueError(
                f"{path} is a colour mask (mode {im.mode}); masks must hold class indices (a single-channel or "
                "palette PNG), or give the colour of each class: data.mask_colors=[[r,g,b], ...] (folder dataset)"
            )
        raw = raw[..., 0]
    if raw.dtype == bool:
        raw = raw.astype(np.uint8)
    if not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"{path}: mask pixels are {raw.dtype}, expected integer class indices (8- or 16-bit PNG)")
    return raw


def make_lut(num_classes: int, ignore: Sequence[int] = (), mapping: dict[int, int] | None = None) -> np.ndarray:
    """Raw value -> class index or 255; -1 marks values that are an error."""
    mapping = mapping or {}
    size = max([256, *(v + 1 for v in ignore), *(k + 1 for k in mapping)])
    lut = np.full(size, -1, np.int16)
    lut[:num_classes] = np.arange(num_classes)
    lut[list(ignore)] = IGNORE
    for raw, cls in mapping.items():
        lut[raw] = cls
    return lut


def apply_lut(
    raw: np.ndarray, lut: np.ndarray, path: str, num_classes: int, hint: str, rgb: bool = False
) -> np.ndarray:
    """Map a raw mask to uint8 class indices / 255, or fail naming the file and the bad values."""
    if raw.dtype == np.uint8:
        out = lut[raw]
    else:
        raw = raw.astype(np.int64)
        outside = (raw < 0) | (raw >= len(lut))
        out = lut[np.clip(raw, 0, len(lut) - 1)]
        out[outside] = -1
    bad = out < 0
    if bad.any():
        values = np.unique(raw[bad])
        fmt = (lambda v: f"({v >> 16}, {(v >> 8) & 255}, {v & 255})") if rgb else str
        shown = ", ".join(fmt(int(v)) for v in values[:20]) + (" ..." if len(values) > 20 else "")
        raise ValueError(
            f"{path}: mask values [{shown}] are neither class indices 0..{num_classes - 1} nor ignore. {hint}"
        )
    return out.astype(np.uint8)


def read_list(path: Path, what: str) -> list[str]:
    """One entry per line; blank lines and surrounding whitespace ignored."""
    if not path.is_file():
        raise FileNotFoundError(f"{what}: list file {path} does not exist")
    with open(path, encoding="utf-8-sig") as f:  # a byte-order mark (Windows editors) is not part of an id
        return [line.strip() for line in f if line.strip()]


class SegmentationFiles(Dataset):
    """Images and masks on disk; `transform` is the training augmentation (None for evaluation)."""

    def __init__(
        self,
        samples: list[Sample],
        luts: dict[str, np.ndarray],
        num_classes: int,
        transform: TrainTransform | None,
        hint: str,
    ) -> None:
        self.samples, self.luts, self.num_classes = samples, luts, num_classes
        self.transform, self.hint = transform, hint
        self.rgb = False  # masks are colour-coded (folder dataset with data.mask_colors)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = self.samples[index]
        img = read_image(s.image)
        if s.mask is None:
            msk = np.full(img.shape[:2], IGNORE, np.uint8)
        else:
            msk = apply_lut(read_mask(s.mask, self.rgb), self.luts[s.lut], s.mask, self.num_classes, self.hint,
                            self.rgb)
            if msk.shape != img.shape[:2]:
                raise ValueError(
                    f"size mismatch (width x height): image {s.image} is {img.shape[1]}x{img.shape[0]} but its "
                    f"mask {s.mask} is {msk.shape[1]}x{msk.shape[0]}; a mask must have its image's size"
                )
        image, mask = torch.from_numpy(img).permute(2, 0, 1).contiguous(), torch.from_numpy(msk)
        if self.transform is not None:
            image, mask, valid = self.transform(image, mask)
            return {"image": image, "mask": mask.long(), "valid": valid, "name": s.name}
        return {"image": image, "mask": mask.long(), "name": s.name}


# ------------------------------------------------------------------------------- split resolution
def collect(
    ids: list[str],
    list_file: Path,
    image_of: Callable[[str], str],
    masks_of: Callable[[str], list[tuple[str, str]]],
    mask_required: bool,
    name_of: Callable[[str], str] = lambda i: i,
) -> list[Sample]:
    """Samples for the ids of one list file; every image (and required mask) must exist.

    masks_of gives candidate (path, lut key) pairs, first existing wins (Cityscapes has two).
    """
    samples, missing = [], []
    for i in ids:
        image = image_of(i)
        if not os.path.isfile(image):
            missing.append(image)
            continue
        candidates = masks_of(i)
        mask = next(((p, k) for p, k in candidates if os.path.isfile(p)), None)
        if mask is None and mask_required:
            missing.append(candidates[0][0])
            continue
        samples.append(Sample(name_of(i), image, mask[0] if mask else None, mask[1] if mask else "default"))
    if missing:
        shown = "\n  ".join(missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} file(s) for the entries of {list_file} do not exist, e.g.:\n  {shown}\n"
            "Check data.root (the paths above are built from it) and the ids in that list."
        )
    return samples


@dataclass
class SplitLists:
    labeled: tuple[Path, list[str]]
    unlabeled: tuple[Path, list[str]]
    eval: tuple[Path, list[str]]


def resolve_lists(cfg: Any, split_dir: Path, dataset: str, full: Callable[[], tuple[Path, list[str]]]) -> SplitLists:
    """Read SPLIT/labeled.txt, SPLIT/unlabeled.txt (optional) and EVAL.txt from split_dir."""
    split, where = str(cfg.split), f"lists from {split_dir}"
    if split == "full":
        labeled, unlabeled = full(), (split_dir, [])
    else:
        folder = split_dir / split
        if not split or not folder.is_dir():
            found = [p.name for p in split_dir.iterdir() if p.is_dir()] if split_dir.is_dir() else []
            valid = sorted(found, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))
            raise ValueError(
                f"data.split={split!r} does not exist for dataset {dataset!r}: no folder {folder}; "
                f"valid: {', '.join(valid + ['full'])}"
            )
        labeled_file, unlabeled_file = folder / "labeled.txt", folder / "unlabeled.txt"
        labeled = (labeled_file, read_list(labeled_file, f"data.split={split!r} ({where})"))
        # No unlabeled.txt: a supervised-only split, not an error.
        unlabeled = (unlabeled_file, read_list(unlabeled_file, "") if unlabeled_file.is_file() else [])
    if not labeled[1]:
        raise ValueError(f"{labeled[0]} lists no images; a split needs at least one labeled image")
    if cfg.eval_split not in ("val", "test"):
        raise ValueError(f"data.eval_split={cfg.eval_split!r} is not valid; use 'val' or 'test'")
    eval_file = split_dir / f"{cfg.eval_split}.txt"
    eval_ids = read_list(eval_file, f"data.eval_split={cfg.eval_split!r} for dataset {dataset!r} ({where})")
    return SplitLists(labeled, unlabeled, (eval_file, eval_ids))


def root_of(cfg: Any, layout: str) -> Path:
    root = Path(cfg.root)
    if not str(cfg.root) or not root.is_dir():
        raise FileNotFoundError(f"data.root={cfg.root!r} is not a folder; set it to the {cfg.dataset} root ({layout})")
    return root


def split_dir_of(cfg: Any, default: Path) -> Path:
    override = getattr(cfg, "split_dir", "") or ""
    return Path(override) if override else default


def list_dir(cfg: Any) -> Path | None:
    """Where data.dataset reads its split lists: data.split_dir, else the dataset's own folder
    (None: generated data, which has no lists)."""
    root = Path(cfg.root)
    own = {"folder": lambda: root / "splits",
           "camvid": lambda: root / "splits" if (root / "splits").is_dir() else PACKAGED_SPLITS / "camvid",
           "voc": lambda: PACKAGED_SPLITS / "pascal",
           "cityscapes": lambda: PACKAGED_SPLITS / "cityscapes"}.get(cfg.dataset)
    return None if own is None else split_dir_of(cfg, own())


def fixed_num_classes(cfg: Any, n: int) -> int:
    if cfg.num_classes not in (0, n):
        raise ValueError(
            f"data.num_classes={cfg.num_classes} contradicts dataset {cfg.dataset!r}, which has {n} classes; "
            f"set data.num_classes to 0 (or {n})"
        )
    return n


def build_files(
    cfg: Any,
    lists: SplitLists,
    image_of: Callable[[str], str],
    masks_of: Callable[[str], list[tuple[str, str]]],
    luts: dict[str, np.ndarray],
    num_classes: int,
    hint: str,
    name_of: Callable[[str], str] = lambda i: i,
) -> tuple[SegmentationFiles, SegmentationFiles, SegmentationFiles]:
    transform = TrainTransform(cfg.crop_size, tuple(cfg.scale_range), cfg.hflip)
    out = []
    for (list_file, ids), required, tf in (
        (lists.labeled, True, transform),
        (lists.unlabeled, False, transform),
        (lists.eval, True, None),
    ):
        samples = collect(ids, list_file, image_of, masks_of, required, name_of)
        out.append(SegmentationFiles(samples, luts, num_classes, tf, hint))
    return out[0], out[1], out[2]


# ---------------------------------------------------------------------------------------- readers
def build_folder(cfg: Any) -> DatasetBundle:
    nc = int(cfg.num_classes)
    if not 0 < nc < IGNORE:
        raise ValueError(
            f"data.num_classes={nc}: dataset 'folder' needs the number of classes (1..254); set data.num_classes"
        )
    names = list(cfg.class_names or [f"class{i}" for i in range(nc)])
    if len(names) != nc:
        raise ValueError(f"data.class_names has {len(names)} names but data.num_classes={nc}; give one name per class")
    ignore = int(cfg.ignore_index)
    if ignore < 0:
        raise ValueError(f"data.ignore_index={ignore} must be >= 0 (the raw mask value meaning 'ignore')")
    mapping = {}
    for k, v in dict(cfg.label_map or {}).items():
        k, v = int(k), int(v)
        if k < 0 or not (0 <= v < nc or v == IGNORE):
            raise ValueError(
                f"data.label_map entry {k}: {v} is invalid: keys are raw mask values >= 0, values are class "
                f"indices 0..{nc - 1} or 255 (ignore)"
            )
        mapping[k] = v
    colors = [tuple(c) for c in cfg.mask_colors]
    if colors:  # colour-coded masks: each class's colour (and the void colours) become lookup keys
        bad = [c for c in colors + [tuple(c) for c in cfg.ignore_colors]
               if len(c) != 3 or not all(0 <= v <= 255 for v in c)]
        if bad or len(colors) != nc:
            raise ValueError(f"data.mask_colors must give one [r, g, b] (0..255) per class, {nc} in all; "
                             f"got {len(colors)}" + (f", invalid {list(bad[0])}" if bad else ""))
        mapping = {rgb_code(*c): k for k, c in enumerate(colors)}
        lut = make_lut(0, [rgb_code(*c) for c in cfg.ignore_colors], mapping)
    else:
        lut = make_lut(nc, [ignore], mapping)
    root = root_of(cfg, FOLDER_LAYOUT)
    hint = (
        f"Map raw values with data.label_map (raw -> class index, or -> 255 to ignore), set data.ignore_index "
        f"(now {ignore}) to the void value, or set data.num_classes (now {nc})."
    )
    split_dir = list_dir(cfg)
    try:
        lists = resolve_lists(cfg, split_dir, "folder", lambda: _train_list(split_dir))
    except (ValueError, FileNotFoundError) as e:
        raise type(e)(f"{e}; the folder layout: {FOLDER_LAYOUT} (gtaseg data split makes the lists)") from None

    def image_of(i: str) -> str:
        for ext in IMAGE_EXTS:
            p = root / "images" / (i + ext)
            if p.is_file():
                return str(p)
        return str(root / "images" / f"{i}.(jpg|jpeg|png)")

    def masks_of(i: str) -> list[tuple[str, str]]:
        return [(str(root / "masks" / f"{i}.png"), "default")]

    if colors:
        hint = "Give every colour of the masks in data.mask_colors (a class) or data.ignore_colors (void)."
    hint += f" The folder layout: {FOLDER_LAYOUT} (docs/datasets.md)."
    try:
        lab, unl, ev = build_files(cfg, lists, image_of, masks_of, {"default": lut}, nc, hint)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} The folder layout: {FOLDER_LAYOUT} (docs/datasets.md).") from None
    for ds in (lab, unl, ev):
        ds.rgb = bool(colors)
    return DatasetBundle(lab, unl, ev, nc, names, [tuple(c) for c in colors] or voc_palette(nc))


def build_camvid(cfg: Any) -> DatasetBundle:
    nc = fixed_num_classes(cfg, 11)
    root = root_of(cfg, "images/ID.jpg, labels/ID.png")
    # Lists in ROOT/splits win (a user's own); else the ones shipped with gtaseg (the results' splits).
    split_dir = list_dir(cfg)
    lists = resolve_lists(cfg, split_dir, "camvid", lambda: _train_list(split_dir))
    luts = {"default": make_lut(nc, ignore=[11, IGNORE])}  # 11 = Unlabelled
    hint = f"CamVid labels hold 0..10 and 11 (void); is data.root={cfg.root} the SegNet CamVid folder?"
    lab, unl, ev = build_files(
        cfg,
        lists,
        lambda i: str(next((p for p in (root / "images" / f"{i}.jpg", root / "images" / f"{i}.png") if p.is_file()),
                           root / "images" / f"{i}.(jpg|png)")),
        lambda i: [(str(root / "labels" / f"{i}.png"), "default")],
        luts,
        nc,
        hint,
    )
    return DatasetBundle(lab, unl, ev, nc, list(CAMVID_CLASSES), list(CAMVID_PALETTE))


def _train_list(split_dir: Path) -> tuple[Path, list[str]]:
    return split_dir / "train.txt", read_list(split_dir / "train.txt", "data.split='full'")


def _union_of(split_dir: Path, split: str) -> tuple[Path, list[str]]:
    """All training images = labeled + unlabeled of one split (both lists partition train)."""
    folder = split_dir / split
    what = "data.split='full'"
    ids = read_list(folder / "labeled.txt", what) + read_list(folder / "unlabeled.txt", what)
    return Path(f"{folder / 'labeled.txt'} + unlabeled.txt"), ids


def build_voc(cfg: Any) -> DatasetBundle:
    nc = fixed_num_classes(cfg, 21)
    root = root_of(cfg, "JPEGImages/ID.jpg, SegmentationClassAug/ID.png")
    split_dir = list_dir(cfg)
    lists = resolve_lists(cfg, split_dir, "voc", lambda: _union_of(split_dir, "92"))
    luts = {"default": make_lut(nc, ignore=[IGNORE])}
    hint = f"VOC masks (SegmentationClassAug) hold 0..20 and 255; check data.root={cfg.root}."
    lab, unl, ev = build_files(
        cfg,
        lists,
        lambda i: str(root / "JPEGImages" / f"{i}.jpg"),
        lambda i: [(str(root / "SegmentationClassAug" / f"{i}.png"), "default")],
        luts,
        nc,
        hint,
    )
    return DatasetBundle(lab, unl, ev, nc, list(VOC_CLASSES), voc_palette(nc))


def _cityscapes_label(entry: str, kind: str) -> str:
    # leftImg8bit/SPLIT/CITY/NAME_leftImg8bit.png -> gtFine/SPLIT/CITY/NAME_gtFine_{kind}.png
    if not (entry.startswith("leftImg8bit/") and entry.endswith("_leftImg8bit.png")):
        raise ValueError(
            f"Cityscapes list entry {entry!r} is not of the form leftImg8bit/SPLIT/CITY/NAME_leftImg8bit.png"
        )
    return "gtFine/" + entry[len("leftImg8bit/") : -len("_leftImg8bit.png")] + f"_gtFine_{kind}.png"


def build_cityscapes(cfg: Any) -> DatasetBundle:
    nc = fixed_num_classes(cfg, 19)
    root = root_of(cfg, "leftImg8bit/, gtFine/")
    split_dir = list_dir(cfg)
    lists = resolve_lists(cfg, split_dir, "cityscapes", lambda: _union_of(split_dir, "100"))
    label_ids = np.full(256, -1, np.int16)
    label_ids[:34] = IGNORE  # 0..33 are the defined labelIds; the non-evaluated ones are void
    label_ids[list(CITYSCAPES_EVAL_IDS)] = np.arange(nc)
    luts = {"train_ids": make_lut(nc, ignore=[IGNORE]), "label_ids": label_ids}
    hint = f"Cityscapes labelTrainIds hold 0..18 and 255, labelIds 0..33; check data.root={cfg.root}."
    lab, unl, ev = build_files(
        cfg,
        lists,
        lambda e: str(root / e),
        lambda e: [(str(root / _cityscapes_label(e, kind)), lut) for kind, lut in CITYSCAPES_LABEL_FILES],
        luts,
        nc,
        hint,
        name_of=lambda e: Path(e).name[: -len("_leftImg8bit.png")],
    )
    return DatasetBundle(lab, unl, ev, nc, list(CITYSCAPES_CLASSES), list(CITYSCAPES_PALETTE))


def build_synthetic(cfg: Any) -> DatasetBundle:
    nc = int(cfg.num_classes) or synthetic.DEFAULT_NUM_CLASSES
    if cfg.eval_split not in ("val", "test"):
        raise ValueError(f"data.eval_split={cfg.eval_split!r} is not valid; use 'val' or 'test'")
    transform = TrainTransform(cfg.crop_size, tuple(cfg.scale_range), cfg.hflip)
    size, seed = int(cfg.synthetic_size), int(cfg.seed)

    def stream(n: int, name: str, tf: TrainTransform | None) -> synthetic.SyntheticShapes:
        return synthetic.SyntheticShapes(int(n), size, nc, seed, name, tf)

    return DatasetBundle(
        labeled=stream(cfg.synthetic_num_labeled, "labeled", transform),
        unlabeled=stream(cfg.synthetic_num_unlabeled, "unlabeled", transform),
        eval=stream(cfg.synthetic_num_eval, "eval" if cfg.eval_split == "val" else "test", None),
        num_classes=nc,
        class_names=list(synthetic.CLASS_NAMES[:nc]),
        palette=list(synthetic.PALETTE[:nc]),
    )


DATASETS: dict[str, Callable[[Any], DatasetBundle]] = {
    "synthetic": build_synthetic,
    "folder": build_folder,
    "voc": build_voc,
    "cityscapes": build_cityscapes,
    "camvid": build_camvid,
}


def build_datasets(data_cfg: Any) -> DatasetBundle:
    """Labeled / unlabeled training sets (weak augmentation) and the evaluation set for data_cfg."""
    builder = DATASETS.get(data_cfg.dataset)
    if builder is None:
        raise ValueError(f"data.dataset={data_cfg.dataset!r} is not known; valid: {', '.join(DATASETS)}")
    return builder(data_cfg)
