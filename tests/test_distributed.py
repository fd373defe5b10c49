"""Data-parallel training with torchrun on CPU (gloo): 2 processes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from gtaseg import checkpoint
from gtaseg.cli import main

TINY = ["model.aspp_channels=16", "model.decoder_channels=16", "model.low_level_channels=8",
        "data.synthetic_num_unlabeled=16", "data.synthetic_num_eval=5", "data.synthetic_size=48",
        "data.crop_size=40", "data.num_workers=0", "train.progress=false", "train.device=cpu"]


def torchrun(n: int, out: Path, *overrides: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", f"--master_port={port}",
           str(Path(__file__).parent / "dist_worker.py"), str(out), *TINY, *overrides]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_two_processes_keep_identical_weights_and_evaluate_like_one(tmp_path, capsys):
    run = tmp_path / "run"
    res = torchrun(2, tmp_path / "r.json", "train.iters=4", "method.warmup_iters=2", f"train.out_dir={run}",
                   "train.eval_every=0", "method.cutmix_prob=0.5", "train.eval_models=teacher,student")
    d = res["digests"]
    assert res["world"] == 2 and d[0] == d[1]  # every model identical on both ranks
    # sharded evaluation (5 images over 2 ranks, no padding duplicates) == one process
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoints/latest.pt"), "model=teacher"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"mIoU: {res['results']['teacher']['miou']:.2f}"


def test_two_processes_batch_b_equal_one_process_batch_2b(tmp_path):
    # Without BatchNorm effects (frozen BN, no dropout) and with every pixel labeled, DDP's averaged
    # gradient of 2 x B equals the gradient of one batch of 2B: the weights agree to float rounding.
    common = ["method.name=sup_only", "train.iters=3", "train.eval_every=0", "model.freeze_bn=true",
              "model.dropout=0", "data.scale_range=[1.0, 1.0]", "data.hflip=false"]
    torchrun(2, tmp_path / "a.json", *common, "data.batch_size=2", f"train.out_dir={tmp_path / 'a'}")
    torchrun(1, tmp_path / "b.json", *common, "data.batch_size=4", f"train.out_dir={tmp_path / 'b'}")
    a = checkpoint.load(tmp_path / "a/checkpoints/latest.pt")["method"]["models"]["student"]
    b = checkpoint.load(tmp_path / "b/checkpoints/latest.pt")["method"]["models"]["student"]
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())
    assert worst < 1e-4, worst  # documented tolerance: float32 summation order


def torchrun_fails(n: int, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={n}", f"--master_port={port}",
           "-m", "gtaseg", "train", "demo", *TINY, *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)  # a hang fails here
    return proc, time.monotonic() - start


def test_a_bad_image_on_one_rank_ends_every_rank_with_the_cause(tmp_path):
    from test_errors import folder

    args = folder(tmp_path / "d", truncated=True)
    proc, seconds = torchrun_fails(2, *args, "train.iters=4", "method.warmup_iters=1", "data.batch_size=1",
                                   "data.unlabeled_batch_size=1", f"train.out_dir={tmp_path / 'run'}")
    assert proc.returncode != 0 and seconds < 200
    causes = [line for line in proc.stderr.splitlines() if "im0.png" in line and "error:" in line]
    assert len(causes) == 1, proc.stderr[-3000:]  # the real cause, once
    assert "Connection closed by peer" not in proc.stderr


def test_a_failing_save_on_rank_0_ends_the_job_and_keeps_the_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    common = [f"train.out_dir={run}", "method.warmup_iters=1", "train.save_every=2", "train.eval_every=0"]
    torchrun(2, tmp_path / "r.json", "train.iters=2", *common)
    (run / "checkpoints" / "latest.pt").unlink()
    (run / "checkpoints" / "latest.pt").mkdir()  # the next save's rename onto it fails
    proc, seconds = torchrun_fails(2, "train.iters=4", *common)
    assert proc.returncode != 0 and seconds < 200
    causes = [line for line in proc.stderr.splitlines() if "could not write checkpoint" in line]
    assert len(causes) == 1 and causes[0].startswith("rank 0: error:"), proc.stderr[-3000:]
    assert checkpoint.load(run / "checkpoints" / "best.pt")["step"] == 2  # the first run's, intact
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
