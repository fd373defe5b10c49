"""benchmarks/camvid_table.sh turns run names into the right commands (gtaseg replaced by a recorder);
benchmarks/paired.py computes per-seed and paired tables from run folders."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "camvid_table.sh"
PAIRED = SCRIPT.with_name("paired.py")


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
    proc, calls = run_table(tmp_path, "gta_all:1 sup_only_x3:0 unimatch_eq:2 gta_laplace:0",
                            extra="train.device=cuda")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    runs = f"{out}/gta_all_seed1 {out}/gta_laplace_seed0 {out}/sup_only_x3_seed0 {out}/unimatch_eq_seed2"
    assert f"aggregate {runs} --split test --out {tmp_path}/table.md" in calls
    trains = [c for c in calls if c.startswith("train ")]
    camvid = "camvid_cpu data.root=/data/camvid data.split=1_8"
    assert (f"train {camvid} train.seed=1 train.out_dir={out}/gta_all_seed1 "
            f"train.progress=false method.name=gta method.transfer=all train.device=cuda") in trains
    assert (f"train {camvid} train.seed=0 train.out_dir={out}/sup_only_x3_seed0 "
            f"train.progress=false method.name=sup_only train.iters=2100 train.device=cuda") in trains
    assert (f"train {camvid} train.seed=2 train.out_dir={out}/unimatch_eq_seed2 "  # GTA-Seg's wall time
            f"train.progress=false method.name=unimatch train.iters=1190 train.device=cuda") in trains
    assert (f"train {camvid} train.seed=0 train.out_dir={out}/gta_laplace_seed0 "  # the paper's re-weighting
            f"train.progress=false method.name=gta method.reweight=laplace train.device=cuda") in trains
    evals = [c for c in calls if c.startswith("eval ")]
    assert (f"eval {out}/gta_all_seed1/checkpoints/latest.pt "
            "data.root=/data/camvid data.eval_split=test train.device=cuda") in evals
    assert len((out / "walltime.txt").read_text().splitlines()) == 4


# run name:seed -> the end of its train command (the value comes from the name; the method is kept)
PATTERN_ROWS = {
    "gta_head1:0": "gta_head1_seed0 train.progress=false method.name=gta train.head_lr_mult=1",
    "sup_only_head1:2": "sup_only_head1_seed2 train.progress=false method.name=sup_only train.head_lr_mult=1",
    "gta_head20_x3:1": "gta_head20_x3_seed1 train.progress=false method.name=gta train.head_lr_mult=20 "
                       "train.iters=2100",
    "mean_teacher_head20:0": "mean_teacher_head20_seed0 train.progress=false method.name=mean_teacher "
                             "train.head_lr_mult=20",
    "gta_t999:0": "gta_t999_seed0 train.progress=false method.name=gta method.transfer_decay=0.999",
    "gta_t98_x3:1": "gta_t98_x3_seed1 train.progress=false method.name=gta method.transfer_decay=0.98 train.iters=2100",
    "gta_drop0:2": "gta_drop0_seed2 train.progress=false method.name=gta method.drop_percent=0",
    "gta_ub8:1": "gta_ub8_seed1 train.progress=false method.name=gta data.unlabeled_batch_size=8",
    "gta_mu2:0": "gta_mu2_seed0 train.progress=false method.name=gta method.unsup_weight=2",
}


def test_pattern_rows_take_their_value_from_the_name(tmp_path):
    proc, calls = run_table(tmp_path, " ".join(PATTERN_ROWS))
    assert proc.returncode == 0, proc.stderr
    trains = [c for c in calls if c.startswith("train ")]
    for ending in PATTERN_ROWS.values():
        assert any(c.endswith(ending) for c in trains), (ending, trains)


def test_unknown_run_name_fails_and_lists_choices(tmp_path):
    proc, calls = run_table(tmp_path, "gta:0 gta_typo:0 mt_ema:1")
    assert proc.returncode != 0
    assert "unknown run name 'gta_typo'" in proc.stderr and "gta_noreweight" in proc.stderr
    assert any(c.startswith("train ") and "method.name=gta" in c for c in calls)  # the valid runs still ran
    assert any(c.startswith("train ") and "method.name=mean_teacher method.unsup_weight=0" in c for c in calls)


def make_run(root: Path, name: str, test: float, val: list[tuple[int, float]], model: str = "teacher",
             sequences: dict[str, float] | None = None) -> Path:
    run = root / name
    (run / "eval").mkdir(parents=True)
    (run / "eval" / f"test_{model}.json").write_text(json.dumps({"miou": test, "iou": [test, test]}))
    rows = [{"step": s, "kind": "train", "loss": 1.0} for s, _ in val]
    rows += [{"step": s, "kind": "eval", f"miou/{model}": v} for s, v in reversed(val)]  # order must not matter
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if sequences:
        d = {"images": {q: 1 for q in sequences}} | {q: {"miou": v} for q, v in sequences.items()}
        (run / "eval" / f"test_by_sequence_{model}.json").write_text(json.dumps(d))
    return run


def paired(*args: object) -> str:
    out = subprocess.run([sys.executable, str(PAIRED), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def row(text: str, after: str, name: str) -> list[str]:
    """The cells of run `name` in the first table below the line containing `after`."""
    block = text[text.index(after):] if after else text
    line = next(s for s in block.splitlines() if s.startswith(f"| {name} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_paired_differences_per_seed_on_test_and_validation(tmp_path):
    runs = [
        make_run(tmp_path, "sup_seed0", 40.0, [(10, 30.0), (20, 35.0)], model="student", sequences={"A": 39.0}),
        make_run(tmp_path, "sup_seed1", 42.0, [(10, 31.0), (20, 36.0)], model="student", sequences={"A": 41.0}),
        make_run(tmp_path, "gta_seed0", 43.0, [(10, 33.0), (20, 34.0)], sequences={"A": 44.0}),
        make_run(tmp_path, "gta_seed1", 41.0, [(10, 32.0), (20, 40.0)], sequences={"A": 40.0}),
    ]
    test = paired(*runs, "--ref", "sup")
    assert row(test, "", "gta") == ["43.00", "41.00", "42.00"]
    assert row(test, "", "sup") == ["40.00", "42.00", "41.00"]  # a sup_only run's student answers for its teacher
    assert row(test, "Paired difference", "gta") == ["+3.00", "-1.00", "+1.00"]
    assert row(test, "by sequence", "gta") == ["42.00 (2)"]
    val = paired(*runs, "--ref", "sup", "--split", "val")
    assert row(val, "", "gta") == ["34.00", "40.00", "37.00"]  # the last evaluation, not the last line
    assert row(val, "Paired difference", "gta") == ["-1.00", "+4.00", "+1.50"]
    assert "by sequence" not in val


def test_unknown_reference_names_the_groups(tmp_path):
    run = make_run(tmp_path, "gta_seed0", 43.0, [(10, 33.0)])
    out = subprocess.run([sys.executable, str(PAIRED), str(run), "--ref", "nope"], capture_output=True, text=True)
    assert out.returncode != 0 and "--ref nope: no such group; groups: gta" in out.stderr


# ------------------------------------------------------------------------------ suggest_simulation.sh
FAKE_GTASEG = """#!/bin/sh
echo "$@" >> {record}
case $1 in
  train) for a in "$@"; do case $a in train.out_dir=*)
           d="${{a#train.out_dir=}}"; mkdir -p "$d/checkpoints"; touch "$d/checkpoints/latest.pt";; esac; done ;;
  eval) d=$(dirname "$(dirname "$2")"); mkdir -p "$d/eval"
        echo '{{"miou": 1.0, "iou": [1.0], "pixel_acc": 1.0, "class_names": ["a"]}}' > "$d/eval/test_teacher.json" ;;
esac
echo "mIoU: 1.00"
"""


def simulate(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """Run suggest_simulation.sh with a fake gtaseg that records its calls; (process, calls file, OUT)."""
    record, out = tmp_path / "calls.txt", tmp_path / "out"
    fake = tmp_path / "bin" / "gtaseg"
    if not fake.exists():
        fake.parent.mkdir()
        fake.write_text(FAKE_GTASEG.format(record=record))
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    # the script runs benchmarks/paired.py with `python`: the interpreter under test, venv active or not
    path = f"{fake.parent}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "OUT": str(out), "CAMVID_ROOT": "/data/camvid", **env}
    proc = subprocess.run(["bash", str(SCRIPT.with_name("suggest_simulation.sh"))], env=env, capture_output=True,
                          text=True, timeout=60)
    return proc, record, out


def test_suggest_simulation_chooses_per_seed_and_trains_on_the_new_splits(tmp_path):
    proc, record, out = simulate(tmp_path, SEEDS="0 1", SCORES="random disagreement+spread", JOBS="2", EXTRA="x.y=1")
    assert proc.returncode == 0, proc.stderr
    calls = record.read_text().splitlines()
    common = "data.root=/data/camvid"
    assert (f"train camvid_cpu {common} train.out_dir={out}/base_seed1 train.progress=false data.split=1_16 "
            "train.seed=1 x.y=1") in calls
    assert (f"suggest {out}/base_seed1 --budget 23 --score random --seed 1 --out {out}/choice_random_seed1 "
            f"--name 1_16+random23 --no-progress {common} x.y=1") in calls
    assert (f"suggest {out}/base_seed0 --budget 23 --score disagreement --spread --seed 0 --out "
            f"{out}/choice_disagreement_spread_seed0 --name 1_16+disagreement_spread23 --no-progress {common} x.y=1"
            ) in calls
    assert (f"train camvid_cpu {common} train.out_dir={out}/random_seed1 train.progress=false "
            f"data.split_dir={out}/choice_random_seed1/splits data.split=1_16+random23 train.seed=1 x.y=1") in calls
    # every base run precedes every choice: the choices read the base checkpoints
    first_suggest = next(i for i, c in enumerate(calls) if c.startswith("suggest "))
    assert all(i < first_suggest for i, c in enumerate(calls) if "out_dir=" in c and "/base_seed" in c)
    [aggregate] = [c for c in calls if c.startswith("aggregate ")]
    runs = sorted(aggregate.split()[1:-4])
    assert runs == sorted(f"{out}/{n}_seed{s}" for n in ("base", "random", "disagreement_spread") for s in (0, 1))
    assert row((out / "paired.md").read_text(), "Paired difference", "disagreement_spread") == ["+0.00", "+0.00",
                                                                                                "+0.00"]
    assert len((out / "walltime.txt").read_text().splitlines()) == 6


def test_suggest_simulation_rerun_skips_finished_runs_and_choices(tmp_path):
    first, record, out = simulate(tmp_path, SEEDS="0", SCORES="disagreement")
    assert first.returncode == 0, first.stderr
    (out / "choice_disagreement_seed0").mkdir()  # the fake suggest writes nothing; a real one leaves chosen.txt
    (out / "choice_disagreement_seed0" / "chosen.txt").write_text("0001TP_006690\n")
    record.unlink()
    # a later sitting adds the random control: only its choice and its run are new work
    second, _, _ = simulate(tmp_path, SEEDS="0", SCORES="disagreement random")
    assert second.returncode == 0, second.stderr
    calls = [c.split()[0] + " " + next((a for a in c.split() if a.startswith(("train.out_dir=", "--out"))), "")
             for c in record.read_text().splitlines() if c.startswith(("train ", "suggest "))]
    assert [c for c in calls if c.startswith("train")] == [f"train train.out_dir={out}/random_seed0"]
    assert len([c for c in calls if c.startswith("suggest")]) == 1
    assert f"{out}/base_seed0: already trained and scored, skipped" in second.stdout
    assert f"{out}/choice_disagreement_seed0: already chosen, reused" in second.stdout
    assert len((out / "walltime.txt").read_text().splitlines()) == 3  # base, disagreement, random: once each


def test_suggest_simulation_passes_a_similarity_and_rejects_unknown_entries(tmp_path):
    proc, record, out = simulate(tmp_path, SEEDS="0", SCORES="entropy+spread=0.8 entropy+sprd")
    assert proc.returncode != 0  # the misspelt entry fails the sitting, after the valid one ran
    assert "unknown entry 'entropy+sprd' in SCORES; write SCORE, SCORE+spread or SCORE+spread=SIMILARITY" in proc.stderr
    calls = record.read_text().splitlines()
    assert (f"suggest {out}/base_seed0 --budget 23 --score entropy --spread --similarity 0.8 --seed 0 --out "
            f"{out}/choice_entropy_spread0.8_seed0 --name 1_16+entropy_spread0.8_23 --no-progress "
            "data.root=/data/camvid") in calls
    assert any(f"train.out_dir={out}/entropy_spread0.8_seed0" in c and "data.split=1_16+entropy_spread0.8_23" in c
               for c in calls)
    assert not any("sprd" in c for c in calls)
