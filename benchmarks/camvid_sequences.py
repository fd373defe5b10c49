"""CamVid test mIoU per sequence: Seq05VD (171 images, a sequence absent from training) and 0001TP (62).

  python benchmarks/camvid_sequences.py RUN_DIR ... [--model teacher] [--data-root ../shared/data/camvid]

Scores RUN_DIR/checkpoints/latest.pt on the test split once, with the confusion matrix kept per
sequence (an image's sequence is the part of its id before the first '_'), and writes
RUN_DIR/eval/test_by_sequence_MODEL.json; then prints one line per run and the mean over runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from gtaseg import checkpoint
from gtaseg.config import apply_overrides, from_dict
from gtaseg.data import build_datasets
from gtaseg.data.loaders import to_input
from gtaseg.inference import load_trained
from gtaseg.metrics import ConfusionMatrix


@torch.no_grad()
def by_sequence(run: Path, model_name: str, root: str | None) -> dict:
    ckpt = run / "checkpoints" / "latest.pt"
    state = checkpoint.load(ckpt)
    overrides = ["data.eval_split=test", "train.device=cpu"] + ([f"data.root={root}"] if root else [])
    cfg = apply_overrides(from_dict(state["config"]), overrides)
    data = build_datasets(cfg.data)
    model = load_trained(state, cfg, model_name, ckpt)
    cms: dict[str, ConfusionMatrix] = {}
    images: dict[str, int] = {}
    for i in range(len(data.eval)):
        item = data.eval[i]
        seq = item["name"].split("_")[0]
        images[seq] = images.get(seq, 0) + 1
        probs = model(to_input(item["image"][None], torch.device("cpu")))
        cms.setdefault(seq, ConfusionMatrix(data.num_classes)).update(probs.argmax(1), item["mask"][None])
    total = ConfusionMatrix(data.num_classes)
    for cm in cms.values():
        total.mat += cm.mat
    result = {"checkpoint": str(ckpt), "step": state["step"], "model": model_name, "class_names": data.class_names,
              "images": images,
              "all": total.compute(), **{s: cm.compute() for s, cm in sorted(cms.items())}}
    (run / "eval").mkdir(exist_ok=True)
    (run / "eval" / f"test_by_sequence_{model_name}.json").write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--model", default="teacher", choices=("teacher", "student", "assistant"))
    ap.add_argument("--data-root", help="CamVid root, if not the one the run was trained with")
    args = ap.parse_args()
    rows = []
    for run in map(Path, args.runs):
        r = by_sequence(run, args.model, args.data_root)
        seqs = [k for k in r if k not in ("checkpoint", "step", "model", "class_names", "images", "all")]
        rows.append({"all": r["all"]["miou"], **{s: r[s]["miou"] for s in seqs}})
        print(f"{run}: test {r['all']['miou']:.2f}; " + ", ".join(f"{s} ({r['images'][s]} images) {r[s]['miou']:.2f}"
                                                          for s in seqs))
    if len(rows) > 1:
        keys = rows[0].keys()
        print("mean: " + ", ".join(f"{k} {statistics.mean(r[k] for r in rows):.2f}" for k in keys))


if __name__ == "__main__":
    main()
