"""`gtaseg report`: one self-contained HTML page about a training run.

This module gathers what the page shows from the run folder (config.yaml, metrics.jsonl, checkpoints/,
eval/*.json) into a ReportData; gtaseg.report_html renders that into the page and gtaseg.svg draws its
charts. Everything is inline (CSS, SVG, PNG examples as base64 data URIs), so the file can be mailed or
archived and opens offline.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gtaseg import evalfile
from gtaseg.report_html import render_report
from gtaseg.roles import ROLES
from gtaseg.svg import Series, nice_ticks, standalone_svg

# nice_ticks and standalone_svg (gtaseg.svg) stay importable from here, where benchmarks/curves.py finds them.
__all__ = ["BestScore", "ClassIoU", "ClassValues", "Curves", "EvalRow", "Examples", "ModelScore", "PseudoLabels",
           "ReportData", "Summary", "best_class_iou", "build_report", "collect_series", "compared_curves",
           "example_grid", "gather_report", "last_list", "nice_ticks", "read_metrics", "standalone_svg"]  # fmt: skip


# ----------------------------------------------------------------------------- what the page shows


@dataclass(frozen=True)
class BestScore:
    step: int | None  # None: the checkpoint does not say
    miou: float | None


@dataclass(frozen=True)
class Summary:
    run_dir: str
    method: str
    dataset: str
    data_split: str
    backbone: str
    output_stride: str
    last_step: float | None  # of the last logged record; the checkpoint's when nothing is logged
    total_iters: str
    main_model: str  # the first of train.eval_models: the model the best checkpoint is chosen by
    best: BestScore | None


@dataclass(frozen=True)
class ModelScore:
    """The last evaluation of one model logged in metrics.jsonl."""

    model: str
    step: float
    miou: float | None
    pixel_acc: float | None


@dataclass(frozen=True)
class EvalRow:
    """One result file of `gtaseg eval` (values as the file holds them; None where it lacks them)."""

    file: str
    model: str | None
    split: str | None
    step: int | None
    mode: str | None
    flip: bool
    miou: float | None


@dataclass(frozen=True)
class Curves:
    """Logged training curves by group, {key: [(iteration, value)]}; an empty group is not drawn."""

    losses: Series
    learning_rates: Series
    miou: Series
    pseudo_labels: Series
    speed: Series


@dataclass(frozen=True)
class ClassIoU:
    values: list[float]  # percent, nan = class absent from both prediction and ground truth
    source: str
    step: int


@dataclass(frozen=True)
class ClassValues:
    """Per-class percentages of one iteration (nan = n/a), with the names and colours to draw them in."""

    step: int
    values: list[float]
    names: list[str]
    palette: list[Sequence[int]]
    source: str = ""  # where the values come from, said under the chart


@dataclass(frozen=True)
class PseudoLabels:
    """Per-class quality of the kept pseudo labels in the last log window."""

    precision: ClassValues
    recall: ClassValues


@dataclass(frozen=True)
class Examples:
    png: bytes  # image | prediction | ground truth, one row per image
    checkpoint: str  # file name
    model: str
    split: str


@dataclass(frozen=True)
class ReportData:
    """Everything the report page shows; gtaseg.report_html.render_report turns it into HTML."""

    run_name: str
    generated: str  # when the report was made, as shown
    notes: list[str]  # problems met while reading the run folder
    summary: Summary
    last_evals: list[ModelScore] | None  # None: nothing evaluated at all (an empty list still gets a table)
    eval_results: list[EvalRow]
    curves: Curves
    compared: Series | None  # {run: mIoU curve} when other runs were given to compare
    class_iou: ClassValues | None
    pseudo_labels: PseudoLabels | None
    examples: Examples | None
    examples_skipped: str  # why there are no examples
    config_text: str  # config.yaml verbatim ("" when missing)


# ----------------------------------------------------------------------------- run files


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Records of metrics.jsonl and the number of unreadable lines (a run killed mid-write leaves one)."""
    records, bad = [], 0
    if not path.is_file():
        return records, bad
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), (int, float)) and not isinstance(rec["step"], bool):
            records.append(rec)
        else:
            bad += 1
    return records, bad


def collect_series(records: Sequence[dict[str, Any]], kind: str, prefix: str) -> Series:
    """{key: [(step, value)]} for numeric keys starting with prefix; a resumed run that logged a
    step twice keeps the later value."""
    out: dict[str, dict[float, float]] = {}
    for rec in records:
        if rec.get("kind") != kind:
            continue
        for k, v in rec.items():
            if k.startswith(prefix) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out.setdefault(k, {})[float(rec["step"])] = float(v)
    return {k: sorted(pts.items()) for k, pts in sorted(out.items())}


def _readable_evals(run_dir: Path) -> list[tuple[Path, dict[str, Any] | None]]:
    """Every eval/*.json of the run with its content; None for a file that is not a JSON object."""
    out: list[tuple[Path, dict[str, Any] | None]] = []
    for f in evalfile.eval_files(run_dir):
        try:
            out.append((f, evalfile.read_eval(f)))
        except (OSError, evalfile.EvalFileError):
            out.append((f, None))
    return out


def best_class_iou(records: Sequence[dict[str, Any]], run_dir: Path, model: str, step: int | None) -> ClassIoU | None:
    """Per-class IoU of the best checkpoint: the last training evaluation at its step, else a
    `gtaseg eval` result (eval/*.json) for it, else the last evaluation of any step."""
    key = f"iou/{model}"
    evals = [r for r in records if r.get("kind") == "eval" and isinstance(r.get(key), list)]
    at_step = [r for r in evals if step is not None and r["step"] == step]
    if at_step:
        return ClassIoU(_floats(at_step[-1][key]), f"metrics.jsonl, {model}, iteration {step}", step)
    for f, d in _readable_evals(run_dir):
        if d is not None and isinstance(d.get("iou"), list) and (step is None or d.get("step") == step):
            return ClassIoU(_floats(d["iou"]), f"{evalfile.EVAL_DIR}/{f.name} ({d.get('model')}, split "
                            f"{d.get('split')}, mode {d.get('mode')})", int(d.get("step", -1)))
    if evals:
        r = evals[-1]
        return ClassIoU(_floats(r[key]), f"metrics.jsonl, {model}, last evaluation (iteration {r['step']})", r["step"])
    return None


def _names_from_eval_files(run_dir: Path) -> list[str]:
    """Class names recorded by `gtaseg eval` (used when no checkpoint is left to ask)."""
    for _, d in _readable_evals(run_dir):
        names = d.get("class_names") if d is not None else None
        if isinstance(names, list) and names:
            return [str(n) for n in names]
    return []


def _floats(values: Sequence[Any]) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) else float("nan") for v in values]


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) else None


def compared_curves(runs: Sequence[str | Path], model: str | None = None) -> Series:
    """{run name: [(iteration, mIoU)]} of each run's first evaluated model (or `model`)."""
    out: Series = {}
    for run in map(Path, runs):
        if not (run / "metrics.jsonl").is_file():
            raise FileNotFoundError(f"{run} has no metrics.jsonl; give run directories (train.out_dir) to compare")
        records, _ = read_metrics(run / "metrics.jsonl")
        miou = collect_series(records, "eval", "miou/")
        name = model or next(iter(_eval_models(run)), "teacher")
        key = f"miou/{name}" if f"miou/{name}" in miou else next(iter(miou), None)
        if key:
            out[f"{run.name} ({key.split('/')[1]})"] = miou[key]
    return out


def _eval_models(run: Path) -> list[str]:
    import yaml

    try:
        cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
        return list((cfg.get("train") or {}).get("eval_models") or [])
    except (OSError, yaml.YAMLError, AttributeError):
        return []


def last_list(records: Sequence[dict[str, Any]], key: str) -> tuple[int, list[float]] | None:
    """(step, values) of the last training record with a per-class list under `key`."""
    for rec in reversed(records):
        if rec.get("kind") == "train" and isinstance(rec.get(key), list):
            return int(rec["step"]), _floats(rec[key])
    return None


# ----------------------------------------------------------------------------- examples


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def example_grid(checkpoint: Path, model: str, count: int, device: str) -> Any:
    """image | prediction | ground truth for `count` images spread over the run's evaluation set."""
    from PIL import Image

    from gtaseg.api import load_model
    from gtaseg.data import build_datasets
    from gtaseg.visualize import comparison_grid

    m = load_model(checkpoint, model, device)
    data = build_datasets(m.config.data)
    n = len(data.eval)
    if n == 0:
        raise ValueError("the evaluation set is empty")
    picks = sorted({int(i) for i in np.linspace(0, n - 1, min(count, n)).round()})
    images, preds, truths = [], [], []
    for i in picks:
        item = data.eval[i]
        rgb = item["image"].permute(1, 2, 0).numpy()
        images.append(Image.fromarray(rgb, "RGB"))
        preds.append(m.predict(rgb))
        truths.append(item["mask"].numpy().astype(np.int64))
    tile = int(min(256, max(192, images[0].size[1])))  # small images are enlarged to stay readable
    return comparison_grid(images, [preds], ["prediction"], m.class_names, m.palette, truths,
                           tile_height=tile, font_size=14)


# ----------------------------------------------------------------------------- gathering


def gather_report(run_dir: str | Path, examples: int = 4, device: str = "cpu",
                  compare: Sequence[str | Path] = ()) -> ReportData:
    """Read run_dir (and the `compare` runs) into what the report shows; runs the model for `examples`
    prediction examples. Problems that leave a partial page are collected in ReportData.notes."""
    import yaml

    from gtaseg import checkpoint as ckpt_io

    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run} does not exist (give a train.out_dir)")
    cfg_file, metrics_file = run / "config.yaml", run / "metrics.jsonl"
    if not cfg_file.is_file() and not metrics_file.is_file():
        raise FileNotFoundError(f"{run} has neither config.yaml nor metrics.jsonl; is it a gtaseg run directory?")
    cfg_text = cfg_file.read_text() if cfg_file.is_file() else ""
    notes: list[str] = []
    try:
        cfg = yaml.safe_load(cfg_text) if cfg_text else {}
    except yaml.YAMLError as e:
        notes.append(f"config.yaml is not valid YAML ({str(e).splitlines()[0]}); the summary omits the settings")
        cfg = {}
    cfg = cfg if isinstance(cfg, dict) else {}
    records, bad_lines = read_metrics(metrics_file)
    eval_models = list((cfg.get("train") or {}).get("eval_models") or ["teacher"])
    main_model = eval_models[0]

    if bad_lines:
        notes.append(f"{bad_lines} unreadable line(s) in metrics.jsonl were skipped")
    # The best checkpoint knows its own step and score; without it, fall back to the log.
    candidates = (run / "checkpoints" / "best.pt", run / "checkpoints" / "latest.pt")
    best_ckpt = next((p for p in candidates if p.is_file()), None)
    best: dict[str, Any] = {}
    state_step, state_iters = None, None
    class_names: list[str] = []
    palette: list[Sequence[int]] = []
    if best_ckpt is not None:
        try:
            state = ckpt_io.load(best_ckpt)
            best = dict(state.get("best") or {})
            state_step, state_iters = state.get("step"), state.get("iters")  # iters: train.epochs resolved
            class_names, palette = list(state.get("class_names") or []), list(state.get("palette") or [])
        except (ValueError, FileNotFoundError) as err:
            notes.append(str(err))
            best_ckpt = None
    miou = collect_series(records, "eval", "miou/")
    if best.get("step", -1) < 0 and miou.get(f"miou/{main_model}"):
        step, value = max(miou[f"miou/{main_model}"], key=lambda p: p[1])
        best = {"step": int(step), "miou": value}

    data, model, method, train = (cfg.get(k) or {} for k in ("data", "model", "method", "train"))
    summary = Summary(
        run_dir=str(run), method=str(method.get("name", "?")), dataset=str(data.get("dataset", "?")),
        data_split=str(data.get("split") or "-"), backbone=str(model.get("backbone", "?")),
        output_stride=str(model.get("output_stride", "?")),
        last_step=max((r["step"] for r in records), default=state_step),
        total_iters=str(state_iters or train.get("iters", "?")),
        main_model=main_model, best=BestScore(best.get("step"), _number(best.get("miou"))) if best else None)

    last_evals: list[ModelScore] | None = None
    eval_records = [r for r in records if r.get("kind") == "eval"]
    if eval_records:
        final: dict[str, ModelScore] = {}  # first seen order; later evaluations replace the values
        for r in eval_records:
            for name in eval_models + list(ROLES):
                if f"miou/{name}" in r:
                    final[name] = ModelScore(name, r["step"], _number(r[f"miou/{name}"]),
                                             _number(r.get(f"pixel_acc/{name}")))
        last_evals = list(final.values())

    eval_results = []
    for f, d in _readable_evals(run):
        if d is None:
            notes.append(f"{evalfile.EVAL_DIR}/{f.name} is not readable JSON; skipped")
            continue
        eval_results.append(EvalRow(f.name, d.get("model"), d.get("split"), d.get("step"), d.get("mode"),
                                    bool(d.get("flip")), _number(d.get("miou"))))

    curves = Curves(losses=collect_series(records, "train", "loss/"),
                    learning_rates=collect_series(records, "train", "lr/"), miou=miou,
                    pseudo_labels=collect_series(records, "train", "pl/"),
                    speed=collect_series(records, "train", "it_per_s"))
    compared = compared_curves([run, *compare]) if compare else None

    class_iou = None
    per_class = best_class_iou(records, run, main_model, best.get("step"))
    if per_class is not None:
        names = class_names or _names_from_eval_files(run) or [f"class {i}" for i in range(len(per_class.values))]
        if not palette:
            from gtaseg.data.datasets import voc_palette

            palette = voc_palette(len(per_class.values))
        class_iou = ClassValues(per_class.step, per_class.values, names, palette, per_class.source)

    pseudo_labels = None
    precision, recall = last_list(records, "pl/precision"), last_list(records, "pl/recall")
    if precision and recall:
        names_pl = class_names or [f"class {i}" for i in range(len(precision[1]))]
        if not palette:
            from gtaseg.data.datasets import voc_palette

            palette = voc_palette(len(precision[1]))
        pseudo_labels = PseudoLabels(ClassValues(precision[0], precision[1], names_pl, palette),
                                     ClassValues(recall[0], recall[1], names_pl, palette))

    shown, skipped = None, ""
    if examples > 0 and best_ckpt is not None:
        try:
            grid = example_grid(best_ckpt, main_model, examples, device)
            shown = Examples(_png(grid), best_ckpt.name, main_model, str(data.get("eval_split", "val")))
        except (FileNotFoundError, ValueError, OSError, RuntimeError) as err:
            skipped = str(err)
    else:
        skipped = "no checkpoint in checkpoints/." if best_ckpt is None else "disabled (--examples 0)."

    return ReportData(run_name=run.resolve().name, generated=time.strftime("%Y-%m-%d %H:%M"), notes=notes,
                      summary=summary, last_evals=last_evals, eval_results=eval_results, curves=curves,
                      compared=compared, class_iou=class_iou, pseudo_labels=pseudo_labels, examples=shown,
                      examples_skipped=skipped, config_text=cfg_text)


def build_report(run_dir: str | Path, out: str | Path | None = None, examples: int = 4, device: str = "cpu",
                 compare: Sequence[str | Path] = ()) -> Path:
    """Write the HTML report of run_dir (default: RUN_DIR/report.html) and return its path.

    `compare`: other run directories whose validation curves are drawn next to this run's."""
    page = render_report(gather_report(run_dir, examples, device, compare))
    out_path = Path(out) if out else Path(run_dir) / "report.html"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return out_path
