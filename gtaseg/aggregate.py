"""Mean +- std tables over seeds from the evaluation results (RUN_DIR/eval/SPLIT_MODEL.json, see
gtaseg.evalfile) of several run directories."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from pathlib import Path

from gtaseg.evalfile import find_eval


def group_name(run_dir: Path) -> str:
    """Runs that differ only in a trailing seed (NAME_seed0, NAME_seed1, ...) form one group."""
    return re.sub(r"[_-]?seed\d+$", "", run_dir.name)


def group_key(run_dir: Path) -> tuple[str, str]:
    """Runs of the same name in different parent folders are different experiments. The folder is the one the
    run is listed in (a symlinked run joins the folder of its link)."""
    return str(run_dir.absolute().parent), group_name(run_dir)


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def aggregate(run_dirs: list[str | Path], split: str = "test", model: str = "teacher") -> str:
    """A Markdown table: one row per group, mean ± sample std (n-1) of mIoU over its runs, then per-class IoU."""
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for d in map(Path, run_dirs):
        by_key[group_key(d)].append(find_eval(d, split, model) | {"_run": str(d)})
    if not by_key:
        raise ValueError("no run directories given")
    # A name alone where it is unique; parent/name where two folders hold runs of the same name.
    names = [n for _, n in by_key]
    groups = {(n if names.count(n) == 1 else f"{Path(p).name}/{n}"): r for (p, n), r in by_key.items()}
    first = next(iter(groups.values()))[0]
    classes = first["class_names"]
    for res in groups.values():
        for r in res:
            if len(r["iou"]) != len(classes) or r.get("class_names", classes) != classes:
                raise ValueError(f"{r['_run']} has {len(r['iou'])} classes ({', '.join(r.get('class_names') or [])}), "
                                 f"{first['_run']} has {len(classes)} ({', '.join(classes)}); aggregate runs of one "
                                 "dataset at a time")
    lines = [f"| run | seeds | mIoU ({split}) | pixel acc. |", "|---|---|---|---|"]
    for name, res in groups.items():
        lines.append(f"| {name} | {len(res)} | {_fmt([r['miou'] for r in res])} | "
                     f"{_fmt([r['pixel_acc'] for r in res])} |")
    lines += ["", f"Per-class IoU ({split}, mean over seeds):", "",
              "| run | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for name, res in groups.items():
        per_class = [statistics.mean(r["iou"][i] for r in res) for i in range(len(classes))]
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in per_class) + " |")
    return "\n".join(lines) + "\n"
