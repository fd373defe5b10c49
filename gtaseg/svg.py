"""Inline SVG charts (line charts of logged curves, per-class bar charts) as strings.

Pure functions of their arguments, no dependencies: `gtaseg report` embeds them in its page and
benchmarks/curves.py writes standalone_svg files for the documentation.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")  # fmt: skip
Series = dict[str, list[tuple[float, float]]]  # {curve name: [(iteration, value)]}


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
