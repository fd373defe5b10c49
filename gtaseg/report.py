"""`gtaseg report`: one self-contained HTML page about a training run.

Everything is inline (CSS, SVG charts drawn here, PNG examples as base64 data URIs), so the file
can be mailed or archived and opens offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")  # fmt: skip
Series = dict[str, list[tuple[float, float]]]


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


@dataclass
class ClassIoU:
    values: list[float]  # percent, nan = class absent from both prediction and ground truth
    source: str
    step: int


def best_class_iou(records: Sequence[dict[str, Any]], run_dir: Path, model: str, step: int | None) -> ClassIoU | None:
    """Per-class IoU of the best checkpoint: the last training evaluation at its step, else a
    `gtaseg eval` result (eval/*.json) for it, else the last evaluation of any step."""
    key = f"iou/{model}"
    evals = [r for r in records if r.get("kind") == "eval" and isinstance(r.get(key), list)]
    at_step = [r for r in evals if step is not None and r["step"] == step]
    if at_step:
        return ClassIoU(_floats(at_step[-1][key]), f"metrics.jsonl, {model}, iteration {step}", step)
    for f in sorted((run_dir / "eval").glob("*.json")):
        try:
            d = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(d, dict) and isinstance(d.get("iou"), list) and (step is None or d.get("step") == step):
            return ClassIoU(_floats(d["iou"]), f"eval/{f.name} ({d.get('model')}, split {d.get('split')}, "
                            f"mode {d.get('mode')})", int(d.get("step", -1)))
    if evals:
        r = evals[-1]
        return ClassIoU(_floats(r[key]), f"metrics.jsonl, {model}, last evaluation (iteration {r['step']})", r["step"])
    return None


def _names_from_eval_files(run_dir: Path) -> list[str]:
    """Class names recorded by `gtaseg eval` (used when no checkpoint is left to ask)."""
    for f in sorted((run_dir / "eval").glob("*.json")):
        try:
            names = json.loads(f.read_text()).get("class_names")
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        if isinstance(names, list) and names:
            return [str(n) for n in names]
    return []


def _floats(values: Sequence[Any]) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) else float("nan") for v in values]


# ----------------------------------------------------------------------------- SVG charts


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten);
    integer=True keeps whole-number steps (iterations)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo < 1e-12:
        pad = 1.0 if integer else abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1.0, float(round(step)) if step >= 5 else math.ceil(step))
    start, end = math.floor(lo / step) * step, math.ceil(hi / step) * step
    n = int(round((end - start) / step))
    return [start + i * step for i in range(n + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4g}"


def line_chart(title: str, series: Series, y_label: str = "", width: int = 560, height: int = 300,
               y_range: tuple[float, float] | None = None) -> str:
    """An inline <svg> line chart of several (x, y) series against the iteration, legend below."""
    ml, mr, mt, mb = 64, 16, 30, 42
    pw, ph = width - ml - mr, height - mt - mb
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    xt = nice_ticks(min(xs), max(xs), integer=True) if xs else [0.0, 1.0]
    yt = nice_ticks(*(y_range or (min(ys), max(ys)))) if ys else [0.0, 1.0]
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]

    def px(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return mt + ph - (y - y0) / (y1 - y0) * ph

    e = html.escape
    parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{e(title)}">',
             f'<text x="{width / 2}" y="18" class="title" text-anchor="middle">{e(title)}</text>']
    for t in yt:
        parts.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" class="grid"/>'
                     f'<text x="{ml - 6}" y="{py(t) + 4:.1f}" text-anchor="end" class="tick">{_fmt(t)}</text>')
    for t in xt:
        parts.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{mt + ph}" y2="{mt + ph + 4}" class="axis"/>'
                     f'<text x="{px(t):.1f}" y="{mt + ph + 17}" text-anchor="middle" class="tick">{_fmt(t)}</text>')
    parts.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" class="frame"/>')
    parts.append(f'<text x="{ml + pw / 2}" y="{height - 6}" text-anchor="middle" class="label">iteration</text>')
    if y_label:
        parts.append(f'<text transform="translate(14 {mt + ph / 2}) rotate(-90)" text-anchor="middle" '
                     f'class="label">{e(y_label)}</text>')
    if not ys:
        parts.append(f'<text x="{ml + pw / 2}" y="{mt + ph / 2}" text-anchor="middle" class="label">no data</text>')
    for i, (name, pts) in enumerate(series.items()):
        c = COLORS[i % len(COLORS)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{c}" stroke-width="2"><title>{e(name)}</title>'
                     "</polyline>")
        if len(pts) <= 40:  # markers keep sparse curves (evaluations, a single point) visible
            parts += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"><title>{e(name)} @ {x:g}: '
                      f"{_fmt(y)}</title></circle>" for x, y in pts]
    parts.append("</svg>")
    keys = "".join(f'<span><i style="background:{COLORS[i % len(COLORS)]}"></i>{e(n)}</span>'
                   for i, n in enumerate(series))
    return f'<figure>{"".join(parts)}<figcaption class="legend">{keys}</figcaption></figure>'


SVG_STYLE = ("<style>text{font-family:Helvetica,Arial,sans-serif}.title{font-size:14px;font-weight:600}"
             ".tick{font-size:11px;fill:#444}.label{font-size:12px;fill:#444}.grid{stroke:#e6e6e6}"
             ".axis{stroke:#888}.frame{fill:none;stroke:#999}</style>")


def standalone_svg(title: str, series: Series, y_label: str = "", width: int = 640, height: int = 340,
                   y_range: tuple[float, float] | None = None) -> str:
    """The line chart as an SVG file of its own (legend drawn inside), for documentation pages."""
    figure = line_chart(title, series, y_label, width, height, y_range)
    svg = figure[figure.index("<svg") : figure.index("</svg>")]
    rows = [list(series)[i : i + 3] for i in range(0, len(series), 3)]
    legend = []
    for r, names in enumerate(rows):
        for c, name in enumerate(names):
            x, y, colour = 64 + c * (width - 80) / 3, height + 16 + r * 18, COLORS[(r * 3 + c) % len(COLORS)]
            legend.append(f'<rect x="{x:.0f}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
                          f'<text x="{x + 17:.0f}" y="{y}" class="tick">{html.escape(name)}</text>')
    full = height + 12 + 18 * len(rows)
    svg = svg.replace(f'height="{height}" viewBox="0 0 {width} {height}"',
                      f'height="{full}" viewBox="0 0 {width} {full}" xmlns="http://www.w3.org/2000/svg"', 1)
    svg = svg.replace(">", f'><rect width="100%" height="100%" fill="white"/>{SVG_STYLE}', 1)
    return svg + "".join(legend) + "</svg>\n"


def bar_chart(title: str, names: Sequence[str], values: Sequence[float], palette: Sequence[Sequence[int]],
              width: int = 560) -> str:
    """Horizontal bars (0..100) per class in the class colours; nan values are marked n/a."""
    e = html.escape
    label_w, mr, mt, bar_h, gap = 130, 56, 30, 18, 6
    pw = width - label_w - mr
    height = mt + len(names) * (bar_h + gap) + 28
    parts = [f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{e(title)}">',
             f'<text x="{width / 2}" y="18" class="title" text-anchor="middle">{e(title)}</text>']
    for t in range(0, 101, 20):
        x = label_w + t / 100 * pw
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt - 4}" y2="{height - 24}" class="grid"/>'
                     f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" class="tick">{t}</text>')
    for i, (name, v) in enumerate(zip(names, values)):
        y = mt + i * (bar_h + gap)
        colour = "rgb({},{},{})".format(*palette[i]) if i < len(palette) else "#888"
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_h - 4}" text-anchor="end" class="tick">{e(name)}</text>')
        if math.isnan(v):
            parts.append(f'<text x="{label_w + 4}" y="{y + bar_h - 4}" class="tick">n/a</text>')
            continue
        w = max(0.0, min(v, 100.0)) / 100 * pw
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}" stroke="#333">'
                     f"<title>{e(name)}: {v:.2f}</title></rect>"
                     f'<text x="{label_w + w + 5:.1f}" y="{y + bar_h - 4}" class="tick">{v:.1f}</text>')
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}</figure>"


# ----------------------------------------------------------------------------- examples


def png_data_uri(image: Any) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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


# ----------------------------------------------------------------------------- the page


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;
color:#222;padding:0 16px}
h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:.92em}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f4f4f4}
pre{background:#f7f7f7;border:1px solid #e2e2e2;padding:10px;font-size:.85em;overflow:auto;max-height:420px}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}
.chart .title{font-size:14px;font-weight:600}.chart .tick{font-size:11px;fill:#444}.chart .label{font-size:12px;fill:#444}
.chart .grid{stroke:#e6e6e6}.chart .axis{stroke:#888}.chart .frame{fill:none;stroke:#999}
.legend{font-size:12px;color:#333;display:flex;flex-wrap:wrap;gap:4px 14px;padding-left:64px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px;border-radius:2px}
.note{color:#8a5a00;background:#fff6e0;border:1px solid #f0d9a0;padding:6px 10px;display:inline-block}
img.examples{max-width:100%;border:1px solid #ddd}
"""


@dataclass
class Section:
    title: str
    body: list[str] = field(default_factory=list)

    def render(self) -> str:
        return f"<section><h2>{html.escape(self.title)}</h2>{''.join(self.body)}</section>"


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    e = html.escape
    head = "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _pct(v: Any) -> str:
    return f"{v:.2f}" if isinstance(v, (int, float)) and math.isfinite(v) else "n/a"


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


def build_report(run_dir: str | Path, out: str | Path | None = None, examples: int = 4, device: str = "cpu",
                 compare: Sequence[str | Path] = ()) -> Path:
    """Write the HTML report of run_dir (default: RUN_DIR/report.html) and return its path.

    `compare`: other run directories whose validation curves are drawn next to this run's."""
    import yaml

    from gtaseg import checkpoint as ckpt_io

    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"run directory {run} does not exist (give a train.out_dir)")
    cfg_file, metrics_file = run / "config.yaml", run / "metrics.jsonl"
    if not cfg_file.is_file() and not metrics_file.is_file():
        raise FileNotFoundError(f"{run} has neither config.yaml nor metrics.jsonl; is it a gtaseg run directory?")
    out_path = Path(out) if out else run / "report.html"
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
    state_step = None
    class_names: list[str] = []
    palette: list[Sequence[int]] = []
    if best_ckpt is not None:
        try:
            state = ckpt_io.load(best_ckpt)
            best = dict(state.get("best") or {})
            state_step = state.get("step")
            class_names, palette = list(state.get("class_names") or []), list(state.get("palette") or [])
        except (ValueError, FileNotFoundError) as err:
            notes.append(str(err))
            best_ckpt = None
    miou = collect_series(records, "eval", "miou/")
    if best.get("step", -1) < 0 and miou.get(f"miou/{main_model}"):
        step, value = max(miou[f"miou/{main_model}"], key=lambda p: p[1])
        best = {"step": int(step), "miou": value}

    sections: list[Section] = []
    # --- summary
    data, model, method, train = (cfg.get(k) or {} for k in ("data", "model", "method", "train"))
    last_step = max((r["step"] for r in records), default=state_step)
    rows = [("run directory", str(run)), ("method", method.get("name", "?")),
            ("dataset", f"{data.get('dataset', '?')} (split {data.get('split') or '-'})"),
            ("model", f"{model.get('backbone', '?')}, output stride {model.get('output_stride', '?')}"),
            ("iterations", f"{last_step} of {train.get('iters', '?')}"),
            ("best mIoU", f"{_pct(best.get('miou'))} ({main_model}, iteration {best.get('step', '?')})"
             if best else "n/a")]
    last_eval = [r for r in records if r.get("kind") == "eval"]
    summary = Section("Summary", [_table(rows)])
    if last_eval:
        final: dict[str, dict[str, Any]] = {}
        for r in last_eval:
            for name in eval_models + ["teacher", "student", "assistant"]:
                if f"miou/{name}" in r:
                    final.setdefault(name, {}).update(step=r["step"], miou=r[f"miou/{name}"],
                                                      acc=r.get(f"pixel_acc/{name}"))
        summary.body.append("<p>Last evaluation of each model:</p>" + _table(
            [(n, v["step"], _pct(v["miou"]), _pct(v["acc"])) for n, v in final.items()],
            ["model", "iteration", "mIoU", "pixel accuracy"]))
    evals_json = []
    for f in sorted((run / "eval").glob("*.json")):
        try:
            d = json.loads(f.read_text())
            evals_json.append((f.name, d.get("model"), d.get("split"), d.get("step"),
                               f"{d.get('mode')}{' + flip' if d.get('flip') else ''}", _pct(d.get("miou"))))
        except (OSError, json.JSONDecodeError, AttributeError):
            notes.append(f"eval/{f.name} is not readable JSON; skipped")
    if evals_json:
        summary.body.append("<p>Results of <code>gtaseg eval</code>:</p>" + _table(
            evals_json, ["file", "model", "split", "iteration", "mode", "mIoU"]))
    sections.append(summary)

    # --- curves
    curves = Section("Training curves")
    charts = []
    losses = collect_series(records, "train", "loss/")
    lrs = collect_series(records, "train", "lr/")
    pl = collect_series(records, "train", "pl/")
    speed = collect_series(records, "train", "it_per_s")
    if losses:
        charts.append(line_chart("Losses", losses, "loss"))
    if lrs:
        charts.append(line_chart("Learning rates", lrs, "learning rate"))
    if miou:
        charts.append(line_chart("mIoU on the evaluation set", miou, "mIoU (%)"))
    if pl:
        charts.append(line_chart("Pseudo-label statistics", pl, "fraction / confidence"))
    if speed:
        charts.append(line_chart("Training speed", speed, "iterations / s"))
    curves.body.append(f'<div class="charts">{"".join(charts)}</div>' if charts
                       else '<p class="note">metrics.jsonl holds no training records yet.</p>')
    sections.append(curves)
    if compare:
        runs = Section("Runs compared")
        runs.body.append(line_chart("mIoU on the evaluation set, by run", compared_curves([run, *compare]), "mIoU (%)"))
        sections.append(runs)

    # --- per-class IoU
    ious = Section("Per-class IoU of the best checkpoint")
    per_class = best_class_iou(records, run, main_model, best.get("step"))
    if per_class is not None:
        names = class_names or _names_from_eval_files(run) or [f"class {i}" for i in range(len(per_class.values))]
        if not palette:
            from gtaseg.data.datasets import voc_palette

            palette = voc_palette(len(per_class.values))
        ious.body.append(bar_chart(f"IoU (%) per class, iteration {per_class.step}", names, per_class.values, palette))
        ious.body.append(f'<p class="sub">Source: {html.escape(per_class.source)}.</p>')
    else:
        ious.body.append('<p class="note">No evaluation with per-class IoU was found.</p>')
    sections.append(ious)

    # --- pseudo labels per class
    precision, recall = last_list(records, "pl/precision"), last_list(records, "pl/recall")
    if precision and recall:
        names_pl = class_names or [f"class {i}" for i in range(len(precision[1]))]
        if not palette:
            from gtaseg.data.datasets import voc_palette

            palette = voc_palette(len(precision[1]))
        pls = Section("Pseudo labels per class (last log window)")
        pls.body.append('<div class="charts">' +
                        bar_chart(f"Precision (%) of kept pseudo labels, iteration {precision[0]}", names_pl,
                                  precision[1], palette) +
                        bar_chart(f"Recall (%) of kept pseudo labels, iteration {recall[0]}", names_pl,
                                  recall[1], palette) + "</div>")
        pls.body.append('<p class="sub">Against the ground truth of the unlabeled images; recall counts dropped '
                        "pixels as missed.</p>")
        sections.append(pls)

    # --- examples
    ex = Section("Prediction examples")
    if examples > 0 and best_ckpt is not None:
        try:
            grid = example_grid(best_ckpt, main_model, examples, device)
            ex.body.append(f'<p class="sub">{html.escape(best_ckpt.name)}, {main_model}, images from the evaluation '
                           f'set (split {html.escape(str(data.get("eval_split", "val")))}).</p>'
                           f'<img class="examples" alt="image, prediction, ground truth" src="{png_data_uri(grid)}">')
        except (FileNotFoundError, ValueError, OSError, RuntimeError) as err:
            ex.body.append(f'<p class="note">Examples skipped: {html.escape(str(err))}</p>')
    else:
        why = "no checkpoint in checkpoints/" if best_ckpt is None else "disabled (--examples 0)"
        ex.body.append(f'<p class="note">Examples skipped: {why}.</p>')
    sections.append(ex)

    # --- config
    sections.append(Section("Configuration (config.yaml)",
                            [f"<pre>{html.escape(cfg_text) or 'config.yaml not found'}</pre>"]))

    title = f"gtaseg run {run.resolve().name}"
    note_html = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head><body>'
            f'<h1>{html.escape(title)}</h1><p class="sub">Report generated {time.strftime("%Y-%m-%d %H:%M")}.</p>'
            f'{note_html}{"".join(s.render() for s in sections)}</body></html>\n')
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return out_path
