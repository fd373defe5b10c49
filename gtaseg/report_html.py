"""The `gtaseg report` page rendered from a gtaseg.report.ReportData.

Pure functions: no files, no clock, no model; the same ReportData always gives the same page, so a page
can be built from hand-made data (tests) as well as from a run folder (gtaseg.report.gather_report).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gtaseg.svg import Series, bar_chart, line_chart

if TYPE_CHECKING:  # gtaseg.report imports this module to render what it gathered
    from gtaseg.report import ClassValues, Curves, EvalRow, Examples, ModelScore, PseudoLabels, ReportData, Summary

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;
color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:.92em}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f4f4f4}
pre{background:#f7f7f7;border:1px solid #e2e2e2;padding:10px;font-size:.85em;overflow:auto;max-height:420px}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
.chart .title{font-size:14px;font-weight:600}.chart .tick{font-size:11px;fill:#444}\
.chart .label{font-size:12px;fill:#444}
.chart .grid{stroke:#e6e6e6}.chart .axis{stroke:#888}.chart .frame{fill:none;stroke:#999}
.legend{font-size:12px;color:#333;display:flex;flex-wrap:wrap;gap:4px 14px;padding-left:64px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px;border-radius:2px}
.note{color:#8a5a00;background:#fff6e0;border:1px solid #f0d9a0;padding:6px 10px;display:inline-block}
img.examples{max-width:100%;border:1px solid #ddd}
"""

esc = html.escape


def _section(title: str, body: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{body}</section>"


def _note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    head = "<tr>" + "".join(f"<th>{esc(str(h))}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _pct(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"


def render_summary(s: Summary, last_evals: list[ModelScore] | None, eval_results: Sequence[EvalRow]) -> str:
    best = "n/a"
    if s.best is not None:
        best = f"{_pct(s.best.miou)} ({s.main_model}, iteration {'?' if s.best.step is None else s.best.step})"
    rows = [("run directory", s.run_dir), ("method", s.method), ("dataset", f"{s.dataset} (split {s.data_split})"),
            ("model", f"{s.backbone}, output stride {s.output_stride}"),
            ("iterations", f"{s.last_step} of {s.total_iters}"), ("best mIoU", best)]
    body = _table(rows)
    if last_evals is not None:
        body += "<p>Last evaluation of each model:</p>" + _table(
            [(m.model, m.step, _pct(m.miou), _pct(m.pixel_acc)) for m in last_evals],
            ["model", "iteration", "mIoU", "pixel accuracy"])
    if eval_results:
        body += "<p>Results of <code>gtaseg eval</code>:</p>" + _table(
            [(r.file, r.model, r.split, r.step, f"{r.mode}{' + flip' if r.flip else ''}", _pct(r.miou))
             for r in eval_results], ["file", "model", "split", "iteration", "mode", "mIoU"])
    return _section("Summary", body)


def render_curves(c: Curves) -> str:
    charts = [line_chart(title, series, y_label) for title, series, y_label in (
        ("Losses", c.losses, "loss"),
        ("Learning rates", c.learning_rates, "learning rate"),
        ("mIoU on the evaluation set", c.miou, "mIoU (%)"),
        ("Pseudo-label statistics", c.pseudo_labels, "fraction / confidence"),
        ("Training speed", c.speed, "iterations / s"),
    ) if series]  # fmt: skip
    body = (f'<div class="charts">{"".join(charts)}</div>' if charts
            else '<p class="note">metrics.jsonl holds no training records yet.</p>')
    return _section("Training curves", body)


def render_compared(compared: Series | None) -> str:
    if compared is None:
        return ""
    return _section("Runs compared", line_chart("mIoU on the evaluation set, by run", compared, "mIoU (%)"))


def _bars(title: str, v: ClassValues) -> str:
    return bar_chart(title, v.names, v.values, v.palette)


def render_class_iou(iou: ClassValues | None) -> str:
    if iou is None:
        body = '<p class="note">No evaluation with per-class IoU was found.</p>'
    else:
        body = (_bars(f"IoU (%) per class, iteration {iou.step}", iou) +
                f'<p class="sub">Source: {esc(iou.source)}.</p>')
    return _section("Per-class IoU of the best checkpoint", body)


def render_pseudo_labels(pl: PseudoLabels | None) -> str:
    if pl is None:
        return ""
    charts = (_bars(f"Precision (%) of kept pseudo labels, iteration {pl.precision.step}", pl.precision) +
              _bars(f"Recall (%) of kept pseudo labels, iteration {pl.recall.step}", pl.recall))
    return _section("Pseudo labels per class (last log window)",
                    f'<div class="charts">{charts}</div><p class="sub">Against the ground truth of the unlabeled '
                    "images; recall counts dropped pixels as missed.</p>")


def render_examples(ex: Examples | None, skipped: str) -> str:
    if ex is None:
        return _section("Prediction examples", _note(f"Examples skipped: {skipped}"))
    uri = "data:image/png;base64," + base64.b64encode(ex.png).decode("ascii")
    return _section("Prediction examples",
                    f'<p class="sub">{esc(ex.checkpoint)}, {esc(ex.model)}, images from the evaluation set '
                    f"(split {esc(ex.split)}).</p>"
                    f'<img class="examples" alt="image, prediction, ground truth" src="{uri}">')


def render_config(text: str) -> str:
    return _section("Configuration (config.yaml)", f"<pre>{esc(text) or 'config.yaml not found'}</pre>")


def render_report(d: ReportData) -> str:
    """The whole page: a standalone HTML document."""
    title = esc(f"gtaseg run {d.run_name}")
    sections = (render_summary(d.summary, d.last_evals, d.eval_results) + render_curves(d.curves) +
                render_compared(d.compared) + render_class_iou(d.class_iou) + render_pseudo_labels(d.pseudo_labels) +
                render_examples(d.examples, d.examples_skipped) + render_config(d.config_text))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'
            f'<h1>{title}</h1><p class="sub">Report generated {esc(d.generated)}.</p>'
            f"{''.join(_note(n) for n in d.notes)}{sections}</body></html>\n")
