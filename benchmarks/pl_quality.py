"""Pseudo-label quality over training, averaged over runs (a Markdown table).

    python benchmarks/pl_quality.py runs/camvid/gta_seed0 runs/camvid/gta_seed1 runs/camvid/gta_seed2

Reads the `pl/*` entries that teacher-based methods log to RUN/metrics.jsonl: accuracy of all and of
the kept pseudo labels against the unlabeled images' ground truth (when the dataset has it), kept fraction,
mean teacher confidence and the confidence threshold of the drop rule, at every logged step.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

KEYS = ("pl/accuracy_all", "pl/accuracy", "pl/kept_fraction", "pl/mean_conf", "pl/threshold")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--every", type=int, default=100, help="show steps that are multiples of this (default 100)")
    a = p.parse_args()
    values: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in a.runs:
        path = run / "metrics.jsonl"
        if not path.is_file():
            raise SystemExit(f"{path} does not exist; give run directories written by `gtaseg train`")
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row.get("kind") == "train" and row["step"] % a.every == 0:
                for k in KEYS:
                    if k in row:
                        values[row["step"]][k].append(row[k])
    if not values:
        raise SystemExit("no pl/* entries found: only teacher-based runs (mean_teacher, gta) log them")
    print("| step | accuracy (all) | accuracy (kept) | kept fraction | mean confidence | threshold |"
          f"   ({len(a.runs)} runs)")
    print("|---|---|---|---|---|---|")
    for step in sorted(values):
        cells = [f"{statistics.mean(values[step][k]):.3f}" if values[step][k] else "-" for k in KEYS]
        print(f"| {step} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
