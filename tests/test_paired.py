"""benchmarks/paired.py: per-seed mIoU, paired differences and per-sequence means from run folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "paired.py"


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
    out = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)
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
    out = subprocess.run([sys.executable, str(SCRIPT), str(run), "--ref", "nope"], capture_output=True, text=True)
    assert out.returncode != 0 and "--ref nope: no such group; groups: gta" in out.stderr
