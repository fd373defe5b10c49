"""The fixed-seed runs whose metrics must not change when the code is reorganised.

    python tests/golden_run.py   # record tests/data/golden_metrics.json (only when behaviour is meant to change)

tests/test_golden.py trains the same runs and compares every logged value with the record.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

METHODS = ("sup_only", "mean_teacher", "gta")
OVERRIDES = [
    "train.iters=24", "train.lr=0.05", "method.warmup_iters=8", "train.log_every=4", "train.eval_every=12",
    "train.save_every=12",
    "train.eval_models=teacher,student,assistant", "method.cutmix_prob=0.5", "method.perturb=true",
    "model.aspp_channels=16", "model.decoder_channels=16", "model.low_level_channels=8",
    "data.synthetic_num_unlabeled=32", "data.synthetic_num_eval=8", "data.num_workers=0",
    "train.progress=false", "train.device=cpu",
]  # fmt: skip
SKIP = ("time", "it_per_s")  # wall-clock values


def golden_metrics(method: str, extra: tuple[str, ...] = ()) -> list[dict]:
    """metrics.jsonl of a 24-iteration run of `method` on the demo data, without wall-clock values."""
    import torch

    from gtaseg.config import load_config
    from gtaseg.engine import train

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        train(load_config("demo", [*OVERRIDES, *extra, f"method.name={method}", f"train.out_dir={out}"]))
        rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in SKIP} for row in rows]


RECORD = Path(__file__).parent / "data" / "golden_metrics.json"

if __name__ == "__main__":
    RECORD.write_text(json.dumps({m: golden_metrics(m) for m in METHODS}, indent=1) + "\n")
