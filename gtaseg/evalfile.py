"""RUN_DIR/eval/*.json, the result file of `gtaseg eval`: its name, its keys, writing and reading it.

`gtaseg eval` writes one file per checkpoint, split, model and scoring mode; `gtaseg aggregate` reads
SPLIT_MODEL.json (latest.pt scored whole-image) of each run; `gtaseg report` lists every file of the folder.
A file is one JSON object: HEADER_KEYS (what was scored, and how), then the metrics of
gtaseg.metrics.ConfusionMatrix (METRIC_KEYS, percent; per-class IoU is nan for a class absent from both
prediction and ground truth).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gtaseg.roles import ROLES, stand_in

if TYPE_CHECKING:
    from gtaseg.config import Config

EVAL_DIR = "eval"
HEADER_KEYS = ("checkpoint", "step", "model", "split", "mode", "flip", "class_names")
METRIC_KEYS = ("miou", "iou", "pixel_acc", "mean_acc")
SCORE_KEYS = ("miou", "iou")  # what `gtaseg aggregate` cannot do without


class EvalFileError(ValueError):
    """A file in eval/ that is not a gtaseg eval result; the message names the file and the fix."""

    def __init__(self, path: Path, reason: str, fix: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path} is not a gtaseg eval result ({reason}); {fix}")


def eval_dir(run_dir: Path) -> Path:
    return Path(run_dir) / EVAL_DIR


def _name(parts: Sequence[str]) -> str:
    return "_".join(parts) + ".json"


def eval_file_name(cfg: Config, ckpt: Path) -> str:
    """SPLIT_MODEL.json for latest.pt scored whole-image (what `gtaseg aggregate` reads); any other
    checkpoint or mode gets its own name, so results never replace each other."""
    e = cfg.eval
    parts = [cfg.data.eval_split, e.model]
    if ckpt.stem != "latest":
        parts.append(ckpt.stem)
    if e.mode != "whole":
        parts.append(f"{e.mode}{e.crop_size if e.mode == 'center_crop' else f'{e.window}s{e.stride}'}")
    if e.flip:
        parts.append("flip")
    return _name(parts)


def eval_path(cfg: Config, ckpt: Path) -> Path | None:
    """RUN_DIR/eval/NAME for a checkpoint in RUN_DIR/checkpoints/; None for a checkpoint kept elsewhere,
    which has no run folder to hold its result."""
    ckpt = Path(ckpt)
    if ckpt.parent.name != "checkpoints":
        return None
    return eval_dir(ckpt.parent.parent) / eval_file_name(cfg, ckpt)


def write_eval(ckpt: Path, cfg: Config, step: int, class_names: Sequence[str], metrics: dict[str, Any]) -> Path | None:
    """Write the result of scoring ckpt (iteration `step`) with cfg.eval on cfg.data.eval_split; returns the
    file written, None when the checkpoint is not in a run folder (see eval_path)."""
    out = eval_path(cfg, ckpt)
    if out is None:
        return None
    out.parent.mkdir(exist_ok=True)
    header = dict(zip(HEADER_KEYS, (str(ckpt), step, cfg.eval.model, cfg.data.eval_split, cfg.eval.mode,
                                    cfg.eval.flip, class_names)))
    out.write_text(json.dumps({**header, **metrics}, indent=1))
    return out


def eval_files(run_dir: Path) -> list[Path]:
    """Every result file of the run, in name order."""
    return sorted(eval_dir(run_dir).glob("*.json"))


def read_eval(path: Path) -> dict[str, Any]:
    """The JSON object of one eval file, keys as written (files written by hand or by older versions may lack
    some). Raises EvalFileError when the file is not a JSON object; OSError when it cannot be read."""
    try:
        result = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise EvalFileError(path, str(e).splitlines()[0], "delete it or run `gtaseg eval` again") from None
    if not isinstance(result, dict):
        raise EvalFileError(path, "not a JSON object", "delete it or run `gtaseg eval` again")
    return result


def has_scores(result: Any) -> bool:
    return isinstance(result, dict) and isinstance(result.get("iou"), list) and "miou" in result


def find_eval(run_dir: Path, split: str, model: str) -> dict[str, Any]:
    """The whole-image result of RUN_DIR/checkpoints/latest.pt on `split` for `model`, checked to hold SCORE_KEYS.
    The roles' rule applies (gtaseg.roles.stand_in): a sup_only run's SPLIT_student.json answers for its teacher."""
    run_dir = Path(run_dir)
    fix = f"`gtaseg eval {run_dir}/checkpoints/latest.pt data.eval_split={split}`"
    try:
        name = stand_in(model, [r for r in ROLES if (eval_dir(run_dir) / _name((split, r))).is_file()])
    except ValueError:
        raise FileNotFoundError(f"{run_dir}: no {EVAL_DIR}/{_name((split, model))}; run {fix} first") from None
    path = eval_dir(run_dir) / _name((split, name))
    try:
        result = json.loads(path.read_text())
    except ValueError as e:  # bad JSON, or bytes that are not text
        raise EvalFileError(path, str(e).splitlines()[0], f"run {fix} again") from None
    if not has_scores(result):
        raise EvalFileError(path, "no 'miou' and 'iou' entries", f"run {fix} again")
    return result
