"""`gtaseg data split` and `gtaseg data check`: make split lists for a folder dataset, and find bad
data before training starts."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from gtaseg.data.datasets import FOLDER_LAYOUT, IGNORE, IMAGE_EXTS, DatasetBundle, apply_lut, read_mask, upright_size

# ----------------------------------------------------------------------------- split


def parse_amount(text: str, total: int, what: str) -> int:
    """'1/8' or '0.125' (a fraction of total) or '46' (a count) -> a count in 1..total."""
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{what}={text!r} is not a count or a fraction such as 1/8 or 0.1") from None
    n = int(value) if value.denominator == 1 and value >= 1 else round(float(value) * total)
    if not 1 <= n <= total:
        raise ValueError(f"{what}={text!r} gives {n} images, but there are {total}; give 1..{total} or a fraction")
    return n


def split_folder(root: str | Path, labeled: str, seed: int = 0, name: str = "", val: str = "0",
                 stratify: bool = False) -> dict[str, list[str]]:
    """Write ROOT/splits/NAME/labeled.txt and unlabeled.txt (and ROOT/splits/val.txt when val > 0) for a
    folder dataset, reproducibly from `seed`. Images without a mask can only be unlabeled. With
    `stratify`, the labeled set first takes, rarest class first, one image of every class it lacks."""
    root = Path(root)
    images = sorted({p.stem for p in (root / "images").glob("*") if p.suffix.lower() in IMAGE_EXTS})
    if not images:
        raise FileNotFoundError(f"{root / 'images'} holds no .jpg/.jpeg/.png images; "
                                f"the folder layout is {FOLDER_LAYOUT}")
    with_mask = [i for i in images if (root / "masks" / f"{i}.png").is_file()]
    if not with_mask:
        raise FileNotFoundError(f"{root / 'masks'} holds no ID.png mask for any image; the layout is {FOLDER_LAYOUT}")
    rng = random.Random(seed)
    pool = list(with_mask)
    rng.shuffle(pool)
    val_ids: list[str] = []
    if val not in ("0", ""):
        n_val = parse_amount(val, len(pool), "--val")
        val_ids, pool = sorted(pool[:n_val]), pool[n_val:]
    n_lab = parse_amount(labeled, len(pool), "--labeled")
    chosen: list[str] = []
    if stratify:
        classes = {i: set(np.unique(read_mask(str(root / "masks" / f"{i}.png"))).tolist()) - {IGNORE} for i in pool}
        counts: dict[int, int] = {}
        for cs in classes.values():
            for c in cs:
                counts[c] = counts.get(c, 0) + 1
        for c in sorted(counts, key=lambda c: (counts[c], c)):  # rarest first
            if len(chosen) < n_lab and not any(c in classes[i] for i in chosen):
                chosen.append(next(i for i in pool if c in classes[i] and i not in chosen))
    chosen += [i for i in pool if i not in chosen][: n_lab - len(chosen)]
    lab = sorted(chosen)
    unl = sorted(set(images) - set(lab) - set(val_ids))
    name = name or f"{labeled.replace('/', '_')}_seed{seed}"
    folder = root / "splits" / name
    lists = {folder / "labeled.txt": lab, folder / "unlabeled.txt": unl}
    if val_ids:
        lists[root / "splits" / "val.txt"] = val_ids
    for path, ids in lists.items():
        if path.is_file() and path.read_text().split() != ids:
            raise FileExistsError(f"{path} exists with other ids; choose another --name, or delete it to replace it")
    for path, ids in lists.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{i}\n" for i in ids))
    return {"labeled": lab, "unlabeled": unl, "val": val_ids, "name": [name]}


# ----------------------------------------------------------------------------- check


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    histogram: np.ndarray | None = None


def check_lists(cfg, rep: Report) -> None:
    """Problems of the split lists themselves: duplicate ids and overlaps (errors), BOMs (warnings)."""
    if cfg.dataset != "folder" and not cfg.split_dir:  # the lists that ship with gtaseg are checked by its tests
        return
    split_dir = Path(cfg.split_dir) if cfg.split_dir else Path(cfg.root) / "splits"
    files = {"labeled": split_dir / str(cfg.split) / "labeled.txt",
             "unlabeled": split_dir / str(cfg.split) / "unlabeled.txt",
             "eval": split_dir / f"{cfg.eval_split}.txt"}
    ids = {}
    for what, path in files.items():
        if not path.is_file():
            continue
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            rep.warnings.append(f"{path} starts with a byte-order mark (BOM), which is skipped; save it as plain "
                                "UTF-8 to be safe with other tools")
        entries = [line.strip() for line in raw.decode("utf-8-sig", errors="replace").splitlines() if line.strip()]
        dup = sorted({e for e in entries if entries.count(e) > 1})
        if dup:
            rep.errors.append(f"{path} lists {len(dup)} id(s) more than once, e.g. {dup[0]}; keep each id once")
        ids[what] = set(entries)
    for a, b in (("labeled", "unlabeled"), ("labeled", "eval"), ("unlabeled", "eval")):
        both = ids.get(a, set()) & ids.get(b, set())
        if both:  # evaluation images among the unlabeled ones: allowed (transductive), but it flatters the score
            (rep.warnings if a == "unlabeled" else rep.errors).append(
                f"{len(both)} id(s) are in both the {a} list {files[a]} and the {b} list {files[b]}, "
                f"e.g. {sorted(both)[0]}; keep the lists of a split disjoint")


def check_data(cfg, data: DatasetBundle, progress: bool = True) -> Report:
    """Read every labeled and evaluation mask once: values, sizes, class histogram, mostly-ignore
    masks, JPEG masks. Errors are what would stop training later; warnings are questionable data."""
    from tqdm import tqdm

    rep = Report()
    check_lists(cfg, rep)
    hist = np.zeros(data.num_classes, np.int64)
    raw_values: set[int] = set()
    sets = [("labeled", data.labeled), ("eval", data.eval)]
    samples = [(what, s, ds) for what, ds in sets for s in getattr(ds, "samples", [])]
    for what, s, ds in tqdm(samples, desc="checking masks", unit="mask", file=sys.stderr,
                            disable=not progress or len(samples) < 200, dynamic_ncols=True):
        if s.mask is None:
            continue
        if Path(s.mask).suffix.lower() in (".jpg", ".jpeg"):
            rep.warnings.append(f"{s.mask} is a JPEG: its compression changes class values at edges; save masks as PNG")
        try:
            raw = read_mask(s.mask, ds.rgb)
            if what == "labeled" and not ds.rgb:
                raw_values.update(np.unique(raw).tolist())
            mask = apply_lut(raw, ds.luts[s.lut], s.mask, data.num_classes, ds.hint, ds.rgb)
            with Image.open(s.image) as im:
                h, w = upright_size(im)
            if mask.shape != (h, w):
                rep.errors.append(f"size mismatch: image {s.image} is {w}x{h} but its mask {s.mask} is "
                                  f"{mask.shape[1]}x{mask.shape[0]}; a mask must have its image's size")
        except (ValueError, OSError) as e:
            text = str(e).splitlines()[0]
            rep.errors.append(text if s.image in text or s.mask in text else f"cannot read {s.image}: {text}; the file "
                              "is corrupt or truncated: re-export it or remove it from the split list")
            continue
        if (mask == IGNORE).mean() > 0.9:
            rep.warnings.append(f"{s.mask}: {100 * (mask == IGNORE).mean():.0f} % of its pixels are ignore; is "
                                "data.ignore_index (or the label map) right?")
        if what == "labeled":
            hist += np.bincount(mask[mask != IGNORE].ravel(), minlength=data.num_classes)[: data.num_classes]
    rep.histogram = hist
    if cfg.dataset == "folder" and data.num_classes == 2 and raw_values == {0, 255} and cfg.ignore_index == 255:
        rep.errors.append("every labeled mask holds only the values 0 and 255, and 255 means ignore "
                          "(data.ignore_index=255): binary masks? make 255 the second class with "
                          "data.label_map={255: 1} (and data.ignore_index set to your void value, if any)")
    missing = [data.class_names[c] for c in range(data.num_classes) if hist[c] == 0]
    if missing and hist.sum():  # datasets without files on disk (synthetic) have nothing to count
        rep.warnings.append(f"class(es) {', '.join(missing)} never appear in the labeled set: the model cannot learn "
                            "them; add labeled images that show them (gtaseg data split --stratify)")
    return rep


def format_report(rep: Report, data: DatasetBundle) -> str:
    lines = []
    if rep.histogram is not None and rep.histogram.sum():
        total = rep.histogram.sum()
        lines.append("labeled pixels per class:")
        width = max(len(n) for n in data.class_names)
        lines += [f"  {n:<{width}}  {100 * c / total:6.2f} %" for n, c in zip(data.class_names, rep.histogram)]
    lines += [f"warning: {w}" for w in rep.warnings] + [f"error: {e}" for e in rep.errors]
    lines.append(f"{len(data.labeled)} labeled, {len(data.unlabeled)} unlabeled, {len(data.eval)} evaluation images; "
                 f"{len(rep.errors)} error(s), {len(rep.warnings)} warning(s)")
    return "\n".join(lines)
