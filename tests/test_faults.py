"""Mixed precision, non-finite losses, and killing a run in the middle (checkpoints stay loadable)."""

import os
import signal
import subprocess
import sys
import time

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
                               "method.warmup_iters=2", f"train.out_dir={out}", "train.resume_changes=train.iters"])
    train(cfg)
    assert checkpoint.load(latest)["step"] == before + 2


def test_a_full_disk_says_so_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    checkpoint.save({"a": torch.zeros(3)}, tmp_path / "latest.pt")

    def full(obj, f):
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError) as err:
        checkpoint.save({"a": torch.ones(3)}, tmp_path / "latest.pt")
    msg = str(err.value)
    assert "disk is full" in msg and "previous latest.pt is kept" in msg and "enforce" not in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.pt"]
    assert torch.equal(torch.load(tmp_path / "latest.pt")["a"], torch.zeros(3))


def test_sigterm_during_a_save_removes_the_temporary_file(tmp_path, monkeypatch):
    from gtaseg.distributed import sigterm_as_exit

    def killed_midway(obj, f):
        f.write(b"x" * 1000)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal arrives before this ends

    monkeypatch.setattr(torch, "save", killed_midway)
    with pytest.raises(SystemExit) as stop, sigterm_as_exit():
        checkpoint.save({"a": torch.ones(3)}, tmp_path / "latest.pt")
    assert stop.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after the block


def test_interrupt_before_the_first_save_does_not_claim_a_checkpoint(tmp_path, monkeypatch, capsys):
    from gtaseg.methods import GTA

    def interrupted(self, *a):
        raise KeyboardInterrupt

    monkeypatch.setattr(GTA, "train_step", interrupted)
    assert main(["train", "demo", *TINY, "train.iters=4", f"train.out_dir={tmp_path}"]) == 130
    assert "interrupted; no checkpoint had been written yet" in capsys.readouterr().err


def test_empty_checkpoint_file_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "latest.pt").write_bytes(b"")
    assert main(["eval", str(tmp_path / "latest.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: checkpoint") and "empty or truncated" in err and len(err.splitlines()) == 1
