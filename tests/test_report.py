"""`gtaseg report`: HTML content from the run's files, and the page rendered by a headless browser."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtaseg.cli import main
from gtaseg.report import best_class_iou, build_report, nice_ticks


@pytest.fixture(scope="module")
def report(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(run, tmp_path_factory.mktemp("report") / "report.html", examples=2)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_report_content(run, report):
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>")
    # Self-contained: no scripts, no external resources of any kind.
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(\s*["']?https?:""", page)
    # The configuration, verbatim (escaped).
    assert "synthetic_num_eval: 4" in page and "aspp_channels: 16" in page
    # Curves: losses, learning rates, mIoU, pseudo-label statistics, speed; then the IoU bars.
    for title in ("Losses", "Learning rates", "mIoU on the evaluation set", "Pseudo-label statistics"):
        assert f'aria-label="{title}"' in page
    for key in ("loss/student", "loss/assistant", "lr/student", "miou/teacher", "pl/kept_fraction", "pl/mean_conf"):
        assert key in page
    assert page.count("<svg") >= 6
    # Per-class IoU of the best checkpoint = the last evaluation logged at best["step"].
    import torch

    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["best"]
    ev = [r for r in records(run) if r["kind"] == "eval" and r["step"] == best["step"]][-1]
    for name, v in zip(["background", "disc", "square", "triangle", "ring"], ev["iou/teacher"]):
        assert f"<title>{name}: {v:.2f}</title>" in page
    assert f"iteration {best['step']}" in page
    # The examples: one embedded PNG, image | prediction | ground truth for 2 images.
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 1
    grid = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert grid.size[0] == 3 * 192 + 4 * 4 and grid.size[1] > 2 * 192


def test_report_cli_default_location(run, capsys):
    assert main(["report", str(run), "--examples", "0"]) == 0
    out = run / "report.html"
    assert out.is_file() and f"wrote {out}" in capsys.readouterr().out
    assert "Examples skipped: disabled" in out.read_text()


def test_report_from_metrics_only(run, tmp_path):
    """No checkpoints, a torn last line, an eval/*.json: the page still comes out and says why."""
    (tmp_path / "config.yaml").write_text((run / "config.yaml").read_text())
    lines = (run / "metrics.jsonl").read_text()
    (tmp_path / "metrics.jsonl").write_text(lines + '{"step": 6, "kind": "tra')
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "val_teacher.json").write_text(json.dumps(
        {"step": 4, "model": "teacher", "split": "val", "mode": "whole", "flip": False, "miou": 12.5,
         "iou": [50.0, float("nan"), 0, 0, 12.5], "class_names": ["bg", "a", "b", "c", "d"]}))
    page = build_report(tmp_path).read_text()
    assert "1 unreadable line(s) in metrics.jsonl" in page
    assert "Examples skipped: no checkpoint" in page
    assert "val_teacher.json" in page and "12.50" in page
    ev = [r for r in records(run) if r["kind"] == "eval"]
    best = max(ev, key=lambda r: r["miou/teacher"])  # no best.pt: the best logged evaluation
    assert f"iteration {best['step']}" in page
    # Class names come from the eval file when no checkpoint is left; IoU values from the log.
    assert f"<title>bg: {best['iou/teacher'][0]:.2f}</title>" in page


def test_best_class_iou_sources(tmp_path):
    recs = [{"step": 2, "kind": "eval", "iou/teacher": [1.0, 2.0]},
            {"step": 4, "kind": "eval", "iou/teacher": [3.0, 4.0]}]
    assert best_class_iou(recs, tmp_path, "teacher", 2).values == [1.0, 2.0]
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "val_teacher.json").write_text(json.dumps({"step": 6, "iou": [5.0, None], "model": "teacher"}))
    got = best_class_iou(recs, tmp_path, "teacher", 6)
    assert got.values[0] == 5.0 and math.isnan(got.values[1]) and "val_teacher.json" in got.source
    assert best_class_iou(recs, tmp_path, "teacher", 8).values == [3.0, 4.0]  # fallback: last evaluation
    assert best_class_iou([], tmp_path / "none", "teacher", None) is None


def test_nice_ticks():
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0.0011, 0.0094)[0] <= 0.0011 and nice_ticks(0.0011, 0.0094)[-1] >= 0.0094
    assert nice_ticks(4, 4, integer=True) == [3, 4, 5]
    assert all(float(t).is_integer() for t in nice_ticks(2, 7, integer=True))
    assert main(["report", "/nonexistent/run"]) == 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_browser(report, tmp_path):
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    res = subprocess.run([*flags, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                          "--window-size=1200,2000", report.resolve().as_uri()],
                         capture_output=True, text=True, timeout=60)
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, console  # the page has no scripts: any console message is a problem
    assert shot.is_file(), res.stderr[-2000:]
    pixels = np.array(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2000, 1200)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50  # text, chart lines, class colours: far from a blank page
    dom = subprocess.run([*flags, "--dump-dom", report.resolve().as_uri()], capture_output=True, text=True,
                         timeout=60).stdout
    assert dom.count("<svg") >= 6 and dom.count("<polyline") >= 5 and "data:image/png;base64," in dom


def write_run(folder: Path, evals: list[tuple[int, float]], precision=None) -> Path:
    folder.mkdir(parents=True)
    lines = [{"step": s, "kind": "eval", "miou/teacher": v, "miou/assistant": v / 2} for s, v in evals]
    if precision:
        lines.append({"step": 9, "kind": "train", "pl/precision": precision, "pl/recall": [50.0] * len(precision)})
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (folder / "config.yaml").write_text("train:\n  eval_models: [teacher, assistant]\n")
    return folder


def test_report_compares_runs_and_shows_pseudo_labels_per_class(tmp_path):
    a = write_run(tmp_path / "gta", [(5, 40.0), (10, 50.0)], precision=[90.0, float("nan"), 12.5])
    b = write_run(tmp_path / "sup_only", [(5, 30.0), (10, 35.0)])
    page = build_report(a, tmp_path / "r.html", examples=0, compare=[b]).read_text()
    compared = page[page.index("Runs compared"):]
    assert "gta (teacher)" in compared and "sup_only (teacher)" in compared
    pl = page[page.index("Pseudo labels per class"):]
    assert "Precision (%) of kept pseudo labels, iteration 9" in pl and "12.5" in pl and "n/a" in pl
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        build_report(a, tmp_path / "r2.html", examples=0, compare=[tmp_path / "missing"])


def test_curves_svg_is_a_valid_standalone_picture(tmp_path):
    import xml.etree.ElementTree as ET

    from gtaseg.report import standalone_svg

    svg = standalone_svg("mIoU", {"GTA-Seg": [(0, 10.0), (10, 30.0)], "SupOnly": [(0, 5.0), (10, 20.0)]}, "mIoU (%)")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "GTA-Seg" in texts and "SupOnly" in texts and "mIoU" in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}polyline"))) == 2


def test_report_survives_a_broken_config_and_a_string_step(tmp_path):
    run = write_run(tmp_path / "run", [(5, 40.0)])
    (run / "config.yaml").write_text("train: [unclosed\n")
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": "7", "kind": "eval", "miou/teacher": 1.0}) + "\n")
    page = build_report(run, tmp_path / "r.html", examples=0).read_text()
    assert "config.yaml is not valid YAML" in page and "1 unreadable line(s)" in page
