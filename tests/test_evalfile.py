"""RUN_DIR/eval/*.json: the name rule, writing and reading back, and `gtaseg aggregate` reading what eval wrote."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gtaseg import evalfile
from gtaseg.aggregate import aggregate
from gtaseg.config import Config
from gtaseg.evalfile import EvalFileError, eval_file_name, find_eval, read_eval, write_eval

CLASSES = ["background", "disc", "ring"]


def config(split: str = "val", model: str = "teacher", mode: str = "whole", flip: bool = False, **kw) -> Config:
    cfg = Config()
    cfg.data.eval_split, cfg.eval.model, cfg.eval.mode, cfg.eval.flip = split, model, mode, flip
    for k, v in kw.items():
        setattr(cfg.eval, k, v)
    return cfg


def checkpoint(run: Path, name: str = "latest.pt") -> Path:
    """RUN/checkpoints/NAME as training leaves it (the run folder exists; the content does not matter here)."""
    path = run / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def metrics(miou: float) -> dict:
    return {"miou": miou, "iou": [miou + 10, float("nan"), miou - 10], "pixel_acc": 90.5, "mean_acc": 70.25}


def test_write_then_read_round_trips_every_value(tmp_path):
    ckpt = checkpoint(tmp_path / "run")
    cfg = config(split="test", model="student")
    path = write_eval(ckpt, cfg, 120, CLASSES, metrics(61.25))
    assert path == tmp_path / "run" / "eval" / "test_student.json" and path.is_file()
    got = read_eval(path)
    assert list(got) == [*evalfile.HEADER_KEYS, *evalfile.METRIC_KEYS]
    header = {"checkpoint": str(ckpt), "step": 120, "model": "student", "split": "test", "mode": "whole",
              "flip": False, "class_names": CLASSES}
    assert {k: got[k] for k in evalfile.HEADER_KEYS} == header
    assert got["miou"] == 61.25 and got["pixel_acc"] == 90.5 and got["mean_acc"] == 70.25
    assert got["iou"][0] == 71.25 and math.isnan(got["iou"][1]) and got["iou"][2] == 51.25  # nan: absent class


def test_name_rule_latest_whole_image_is_split_model_and_everything_else_is_distinct(tmp_path):
    latest, best = Path("run/checkpoints/latest.pt"), Path("run/checkpoints/best.pt")
    assert eval_file_name(config(), latest) == "val_teacher.json"
    assert eval_file_name(config(split="test", model="assistant"), latest) == "test_assistant.json"
    names = {
        eval_file_name(config(), latest),
        eval_file_name(config(), best),
        eval_file_name(config(), Path("run/checkpoints/step_400.pt")),
        eval_file_name(config(mode="sliding", window=64, stride=32), latest),
        eval_file_name(config(mode="sliding", window=64, stride=48), latest),
        eval_file_name(config(mode="center_crop", crop_size=256), latest),
        eval_file_name(config(flip=True), latest),
        eval_file_name(config(mode="sliding", window=64, stride=32, flip=True), best),
    }
    assert len(names) == 8, names
    assert {"val_teacher_best.json", "val_teacher_sliding64s32.json", "val_teacher_center_crop256.json",
            "val_teacher_flip.json", "val_teacher_best_sliding64s32_flip.json"} <= names
    # A checkpoint outside a run folder has nowhere to keep its result: nothing is written.
    loose = tmp_path / "latest.pt"
    assert evalfile.eval_path(config(), loose) is None
    assert write_eval(loose, config(), 1, CLASSES, metrics(1.0)) is None and not (tmp_path / "eval").exists()


def test_aggregate_reads_what_write_eval_wrote(tmp_path):
    runs = []
    for seed, miou in enumerate([60.0, 62.0]):
        runs.append(tmp_path / f"gta_seed{seed}")
        write_eval(checkpoint(runs[-1]), config(split="test"), 100, CLASSES, metrics(miou))
    # A sup_only run is scored as its student; aggregate's default model (teacher) finds that file.
    runs.append(tmp_path / "sup_only_seed0")
    write_eval(checkpoint(runs[-1]), config(split="test", model="student"), 100, CLASSES,
               metrics(50.0))
    # Another checkpoint's result must not stand in for latest.pt's.
    write_eval(checkpoint(runs[0], "best.pt"), config(split="test"), 80, CLASSES, metrics(99.0))
    table = aggregate(runs, "test", "teacher")
    assert "| gta | 2 | 61.00 ± 1.41 | 90.50 ± 0.00 |" in table and "| sup_only | 1 | 50.00 | 90.50 |" in table
    assert "| run | background | disc | ring |" in table and "| gta | 71.0 | nan | 51.0 |" in table
    # json.dumps compares nan with nan, which == does not.
    written = read_eval(runs[0] / "eval" / "test_teacher.json")
    assert json.dumps(find_eval(runs[0], "test", "teacher")) == json.dumps(written)
    with pytest.raises(FileNotFoundError, match=r"no eval/val_teacher.json; run `gtaseg eval .*data.eval_split=val` "):
        find_eval(runs[0], "val", "teacher")


def test_unreadable_files_are_named_with_the_fix(tmp_path):
    bad = tmp_path / "run" / "eval" / "test_teacher.json"
    bad.parent.mkdir(parents=True)
    for text, reason in (("{not json", "Expecting property name"), ("[1, 2]", "not a JSON object")):
        bad.write_text(text)
        with pytest.raises(EvalFileError, match=reason) as err:
            read_eval(bad)
        assert str(bad) in str(err.value) and "gtaseg eval" in str(err.value)
    bad.write_text(json.dumps({"miou": 1.0}))  # readable, but no per-class IoU
    with pytest.raises(ValueError, match=r"test_teacher.json is not a gtaseg eval result \(no 'miou' and 'iou' "
                                         r"entries\); run `gtaseg eval .*/run/checkpoints/latest.pt "
                                         r"data.eval_split=test` again"):
        find_eval(tmp_path / "run", "test", "teacher")
