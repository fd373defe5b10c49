"""Per-seed test mIoU, paired differences and per-sequence scores of CamVid run folders (Markdown).

  python benchmarks/paired.py RUN_DIR ... --ref sup_only --ref mean_teacher [--model teacher] [--split val]

Runs are grouped by name without the trailing _seedN. For each group: mIoU per seed, mean; for each
--ref group: the difference group - ref on every seed both have, and its mean; then (test only) the
per-sequence mIoU means (from RUN/eval/test_by_sequence_MODEL.json of benchmarks/camvid_sequences.py)
where present. --split test (default) reads RUN/eval/test_MODEL.json as written by `gtaseg eval`;
--split val reads the run's last in-training evaluation from RUN/metrics.jsonl.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

from gtaseg.aggregate import group_name
from gtaseg.evalfile import find_eval
from gtaseg.report import read_metrics
from gtaseg.roles import stand_in


def seed_of(run: Path) -> int:
    m = re.search(r"seed(\d+)$", run.name)
    return int(m.group(1)) if m else 0


def last_validation(run: Path, model: str) -> float:
    """The final in-training validation mIoU of `model` (the run's last 'eval' row of metrics.jsonl)."""
    evals = [r for r in read_metrics(run / "metrics.jsonl")[0] if r.get("kind") == "eval"]
    held = {k.split("/", 1)[1] for r in evals for k in r if k.startswith("miou/")}
    try:
        name = stand_in(model, held)  # a sup_only run's student answers for its teacher
    except ValueError:
        raise SystemExit(f"{run}/metrics.jsonl has no evaluation of the {model}; pass --model") from None
    return float(max((r for r in evals if f"miou/{name}" in r), key=lambda r: r["step"])[f"miou/{name}"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--ref", action="append", default=[], help="group to subtract (repeatable)")
    ap.add_argument("--model", default="teacher")
    ap.add_argument("--split", default="test", choices=("test", "val"))
    args = ap.parse_args()
    miou: dict[str, dict[int, float]] = defaultdict(dict)
    seqs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in map(Path, args.runs):
        g, s = group_name(run), seed_of(run)
        if args.split == "val":
            miou[g][s] = last_validation(run, args.model)
            continue
        miou[g][s] = find_eval(run, "test", args.model)["miou"]
        for name in (args.model, "student"):
            f = run / "eval" / f"test_by_sequence_{name}.json"
            if f.is_file():
                d = json.loads(f.read_text())
                for seq in d["images"]:
                    seqs[g][seq].append(d[seq]["miou"])
                break
    seeds = sorted({s for v in miou.values() for s in v})
    head = "| run | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |"
    lines = [head, "|---|" + "---|" * (len(seeds) + 1)]
    for g, v in miou.items():
        cells = [f"{v[s]:.2f}" if s in v else "" for s in seeds]
        lines.append(f"| {g} | " + " | ".join(cells) + f" | {statistics.mean(v.values()):.2f} |")
    for ref in args.ref:
        if ref not in miou:
            raise SystemExit(f"--ref {ref}: no such group; groups: {', '.join(miou)}")
        lines += ["", f"Paired difference, run - {ref} (same seed):", "", head, lines[1]]
        for g, v in miou.items():
            if g == ref:
                continue
            d = {s: v[s] - miou[ref][s] for s in seeds if s in v and s in miou[ref]}
            if d:
                cells = [f"{d[s]:+.2f}" if s in d else "" for s in seeds]
                lines.append(f"| {g} | " + " | ".join(cells) + f" | {statistics.mean(d.values()):+.2f} |")
    if seqs:
        names = sorted({q for v in seqs.values() for q in v})
        lines += ["", "Test mIoU by sequence (mean over the seeds present):", "",
                  "| run | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for g, v in seqs.items():
            lines.append(f"| {g} | " + " | ".join(f"{statistics.mean(v[q]):.2f} ({len(v[q])})" if v.get(q) else ""
                                                  for q in names) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
