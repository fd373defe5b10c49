"""`gtaseg predict`: masks and overlays for image files, folders and list files."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gtaseg.api import SegmentationModel, size_groups
from gtaseg.data.datasets import upright_size

INPUT_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files as given; folders -> their images (jpg/jpeg/png/bmp, sorted, not recursive);
    .txt files -> one path per line, relative to the list's folder (blank and '#' lines skipped)."""
    out: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in INPUT_EXTS)
            if not found:
                raise FileNotFoundError(f"folder {p} holds no images ({', '.join(INPUT_EXTS)})")
            out += found
        elif p.suffix.lower() == ".txt":
            if not p.is_file():
                raise FileNotFoundError(f"list file {p} does not exist")
            for n, line in enumerate(p.read_text().splitlines(), 1):
                entry = line.strip()
                if not entry or entry.startswith("#"):
                    continue
                f = Path(entry) if Path(entry).is_absolute() else p.parent / entry
                if not f.is_file():
                    raise FileNotFoundError(f"{p}, line {n}: image {f} does not exist "
                                            "(list entries are relative to the list's folder)")
                out.append(f)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"input {p} does not exist (give image files, folders or .txt lists)")
    if not out:
        raise ValueError("no input images given")
    return out


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) as read_image will give it (EXIF orientation applied), from the header, without decoding."""
    try:
        with Image.open(path) as im:
            return upright_size(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}; is it a jpg/png/bmp image?") from None


def output_names(paths: Sequence[Path]) -> list[str]:
    """File stems, which must be unique since they name the outputs."""
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen and seen[p.stem].resolve() != p.resolve():
            raise ValueError(f"inputs {seen[p.stem]} and {p} would both write {p.stem}.png; "
                             "rename one or predict them in separate runs with different --out folders")
        seen.setdefault(p.stem, p)
    return [p.stem for p in paths]


def predict_files(model: SegmentationModel, inputs: Sequence[str | Path], out_dir: str | Path, batch_size: int = 4,
                  alpha: float = 0.5, progress: bool = True) -> list[Path]:
    """Write OUT/NAME.png (palette PNG of class indices) and OUT/NAME_overlay.jpg for every input image.

    Images of equal size are predicted together; outputs keep each image's resolution. Returns the
    written mask paths in input order.
    """
    from tqdm import tqdm

    from gtaseg.data.datasets import read_image
    from gtaseg.visualize import overlay, palette_png

    paths = list(dict.fromkeys(expand_inputs(inputs)))  # the same file given twice is predicted once
    names = output_names(paths)
    sizes = [image_size(p) for p in paths]  # header check of every file before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources = {p.resolve() for p in paths}
    masks = [out / f"{n}.png" for n in names]
    overlays = [out / f"{n}_overlay.jpg" for n in names]
    clash = [m for m in masks + overlays if m.resolve() in sources]
    if clash:
        raise ValueError(f"writing {clash[0]} would overwrite an input image; choose another --out folder")
    bar = tqdm(total=len(paths), desc="predict", unit="img", file=sys.stderr, disable=not progress, dynamic_ncols=True)
    for group in size_groups(sizes, batch_size):
        images = [read_image(str(paths[i])) for i in group]  # names the file when it is corrupt
        batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)
        pred = model.predict_proba_batch(batch).argmax(1).cpu().numpy()
        for i, img, mask in zip(group, images, pred):
            palette_png(mask, model.palette).save(masks[i])
            overlay(img, mask, model.palette, alpha).save(overlays[i], quality=95, subsampling=0)
        bar.update(len(group))
    bar.close()
    return masks
