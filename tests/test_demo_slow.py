"""The built-in demo, as users run it (minutes): GTA-Seg improves on its warm-up teacher."""

import json

import pytest

from gtaseg.config import load_config
from gtaseg.engine import train


@pytest.mark.slow
def test_gta_demo_improves_over_warmup_teacher(tmp_path):
    cfg = load_config("demo", [f"train.out_dir={tmp_path}", "train.progress=false"])
    assert cfg.method.name == "gta"
    cfg.train.eval_every = cfg.method.warmup_iters  # an evaluation exactly when warm-up ends
    train(cfg)
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    warmup = next(e for e in evals if e["step"] == cfg.method.warmup_iters)["miou/teacher"]
    final = evals[-1]["miou/teacher"]
    assert final > warmup, (warmup, final)
