"""Mixed precision, non-finite losses, and killing a run in the middle (checkpoints stay loadable)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gtaseg import checkpoint
from gtaseg.cli import main
from gtaseg.config import load_config
from gtaseg.engine import TrainingError, train

TINY = ["model.aspp_channels=16", "model.decoder_channels=16", "model.low_level_channels=8",
        "data.synthetic_num_unlabeled=16", "data.synthetic_num_eval=4", "data.synthetic_size=48",
        "data.crop_size=40", "data.num_workers=0", "train.progress=false"]


def test_bf16_autocast_on_cpu(tmp_path):
    cfg = load_config("demo", [*TINY, "train.amp=bf16", "train.channels_last=true", "train.iters=3",
                               "method.warmup_iters=1", f"train.out_dir={tmp_path}"])
    from gtaseg.distributed import DistInfo
    from gtaseg.engine import build_models
    from gtaseg.methods import GTA

    models = build_models(cfg, 5, torch.device("cpu"), DistInfo())
    method = GTA(cfg, models, DistInfo(), 1)
    with method.autocast():
        assert models["student"](torch.rand(1, 3, 32, 32)).dtype == torch.bfloat16
    results = train(cfg)
    assert 0 <= results["teacher"]["miou"] <= 100
    state = checkpoint.load(tmp_path / "checkpoints/latest.pt")
    assert all(v.dtype == torch.float32 for v in state["method"]["models"]["student"].values() if v.is_floating_point())


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from gtaseg.methods import GTA

    step_fn = GTA.train_step

    def poisoned(self, *a):
        logs = step_fn(self, *a)
        return {**logs, "loss/assistant": float("nan")} if a[-1] == 3 else logs

    monkeypatch.setattr(GTA, "train_step", poisoned)
    args = [*TINY, "train.iters=6", "train.save_every=1", "method.warmup_iters=1", f"train.out_dir={tmp_path}"]
    with pytest.raises(TrainingError, match=r"iteration 3: loss is not finite \(loss/assistant=nan\)"):
        train(load_config("demo", args))
    assert checkpoint.load(tmp_path / "checkpoints/latest.pt")["step"] == 3  # iterations 0-2 done
    assert main(["train", "demo", *args]) == 2
    assert "iteration 3: loss is not finite" in capsys.readouterr().err


def test_kill_during_training_leaves_a_loadable_checkpoint_and_resumes(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "gtaseg", "train", "demo", *TINY, "train.iters=400", "train.save_every=1",
           "train.eval_every=0", "method.warmup_iters=2", f"train.out_dir={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    latest = out / "checkpoints/latest.pt"
    for kill_after in (1.0, 0.37, 0.61):  # kill -9 at different moments, saves happen every iteration
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not latest.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = checkpoint.load(latest)  # never a partial file
        assert 0 < state["step"] < 400
    before = checkpoint.load(latest)["step"]
    cfg = load_config("demo", [*TINY, f"train.iters={before + 2}", "train.save_every=1", "train.eval_every=0",
                               "method.warmup_iters=2", f"train.out_dir={out}"])
    train(cfg)
    assert checkpoint.load(latest)["step"] == before + 2
