"""Mean +- std tables over seeds from the evaluation results of several run directories."""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from pathlib import Path


def read_result(run_dir: Path, split: str, model: str) -> dict:
    """RUN_DIR/eval/SPLIT_MODEL.json as written by `gtaseg eval` (a sup_only run's teacher is its student)."""
    for name in (model, "student") if model == "teacher" else (model,):
        path = run_dir / "eval" / f"{split}_{name}.json"
        if path.is_file():
            return json.loads(path.read_text())
    raise FileNotFoundError(f"{run_dir}: no eval/{split}_{model}.json; run "
                            f"`gtaseg eval {run_dir}/checkpoints/latest.pt data.eval_split={split}` first")


def group_name(run_dir: Path) -> str:
    """Runs that differ only in a trailing seed (NAME_seed0, NAME_seed1, ...) form one group."""
    return re.sub(r"[_-]?seed\d+$", "", run_dir.name)


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def aggregate(run_dirs: list[str | Path], split: str = "test", model: str = "teacher") -> str:
    """A Markdown table: one row per group, mean ± sample std (n-1) of mIoU over its runs, then per-class IoU."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for d in map(Path, run_dirs):
        groups[group_name(d)].append(read_result(d, split, model))
    if not groups:
        raise ValueError("no run directories given")
    classes = next(iter(groups.values()))[0]["class_names"]
    lines = [f"| run | seeds | mIoU ({split}) | pixel acc. |", "|---|---|---|---|"]
    for name, res in groups.items():
        lines.append(f"| {name} | {len(res)} | {_fmt([r['miou'] for r in res])} | {_fmt([r['pixel_acc'] for r in res])} |")
    lines += ["", f"Per-class IoU ({split}, mean over seeds):", "",
              "| run | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for name, res in groups.items():
        per_class = [statistics.mean(r["iou"][i] for r in res) for i in range(len(classes))]
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in per_class) + " |")
    return "\n".join(lines) + "\n"
