"""Learning curves as SVG files for docs/results.md: validation mIoU against iteration.

  python benchmarks/curves.py --out docs/curves_methods.svg --title "..." RUN_DIR[:MODEL][=LABEL] ...

Each argument is a run folder, optionally the model whose curve to draw (teacher | student |
assistant; default: the run's first evaluated model) and a label for the legend.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gtaseg.report import collect_series, read_metrics, standalone_svg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="RUN_DIR[:MODEL][=LABEL]")
    ap.add_argument("--out", required=True, help="SVG file to write")
    ap.add_argument("--title", default="mIoU on the validation split")
    args = ap.parse_args()
    series = {}
    for spec in args.runs:
        spec, _, label = spec.partition("=")
        run, _, model = spec.partition(":")
        records, _ = read_metrics(Path(run) / "metrics.jsonl")
        miou = collect_series(records, "eval", "miou/")
        key = f"miou/{model}" if model else next(iter(sorted(miou, key=lambda k: k != "miou/teacher")), None)
        if key not in miou:
            raise SystemExit(f"{run}: no '{key}' evaluations in metrics.jsonl; it has {', '.join(miou) or 'none'}")
        series[label or f"{Path(run).name} {key.split('/')[1]}"] = miou[key]
    Path(args.out).write_text(standalone_svg(args.title, series, "mIoU (%)"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
