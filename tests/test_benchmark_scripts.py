"""benchmarks/camvid_table.sh turns run names into the right commands (gtaseg replaced by a recorder)."""

import os
import stat
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "camvid_table.sh"


def run_table(tmp_path: Path, runs: str, extra: str = "") -> tuple[subprocess.CompletedProcess, list[str]]:
    record = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "gtaseg"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {record}\necho "mIoU: 1.00"\n'
                    'for a in "$@"; do case $a in train.out_dir=*) mkdir -p "${a#train.out_dir=}";; esac; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "RUNS": runs, "JOBS": "2",
           "OUT": str(tmp_path / "out"), "TABLE": str(tmp_path / "table.md"), "EXTRA": extra,
           "CAMVID_ROOT": "/data/camvid", "SEQUENCES": "0"}
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    return proc, sorted(record.read_text().splitlines()) if record.exists() else []


def test_run_names_map_to_overrides(tmp_path):
    proc, calls = run_table(tmp_path, "gta_all:1 sup_only_x3:0", extra="train.device=cuda")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert f"aggregate {out}/gta_all_seed1 {out}/sup_only_x3_seed0 --split test --out {tmp_path}/table.md" in calls
    trains = [c for c in calls if c.startswith("train ")]
    camvid = "camvid_cpu data.root=/data/camvid data.split=1_8"
    assert (f"train {camvid} train.seed=1 train.out_dir={out}/gta_all_seed1 "
            f"train.progress=false method.name=gta method.transfer=all train.device=cuda") in trains
    assert (f"train {camvid} train.seed=0 train.out_dir={out}/sup_only_x3_seed0 "
            f"train.progress=false method.name=sup_only train.iters=2100 train.device=cuda") in trains
    evals = [c for c in calls if c.startswith("eval ")]
    assert (f"eval {out}/gta_all_seed1/checkpoints/latest.pt "
            "data.root=/data/camvid data.eval_split=test train.device=cuda") in evals
    assert len((out / "walltime.txt").read_text().splitlines()) == 2


def test_unknown_run_name_fails_and_lists_choices(tmp_path):
    proc, calls = run_table(tmp_path, "gta:0 gta_typo:0 mt_ema:1")
    assert proc.returncode != 0
    assert "unknown run name 'gta_typo'" in proc.stderr and "gta_noreweight" in proc.stderr
    assert any(c.startswith("train ") and "method.name=gta" in c for c in calls)  # the valid runs still ran
    assert any(c.startswith("train ") and "method.name=mean_teacher method.unsup_weight=0" in c for c in calls)
