"""The report page rendered from hand-made ReportData: no run folder, no clock, the same page every time."""

from __future__ import annotations

import copy
import dataclasses
import re
import time
from pathlib import Path

from gtaseg import report as rp
from gtaseg.report_html import render_report

NAMES = ["road", "sky", "car <small>"]
PALETTE = [(128, 64, 128), (70, 130, 180), (0, 0, 142)]


def data(**changes) -> rp.ReportData:
    base = rp.ReportData(
        run_name="camvid_seed3", generated="2024-05-06 07:08",
        notes=["1 unreadable line(s) in metrics.jsonl were skipped"],
        summary=rp.Summary(run_dir="runs/camvid_seed3", method="gta", dataset="camvid", data_split="1_8",
                           backbone="resnet50", output_stride="16", last_step=4000, total_iters="4000",
                           main_model="teacher", best=rp.BestScore(3500, 57.125)),
        last_evals=[rp.ModelScore("teacher", 4000, 56.5, 91.25), rp.ModelScore("student", 4000, 55.0, None)],
        eval_results=[rp.EvalRow("test_teacher.json", "teacher", "test", 4000, "whole", True, 54.321)],
        curves=rp.Curves(losses={"loss/student": [(0.0, 2.5), (100.0, 1.25)]}, learning_rates={}, miou={},
                         pseudo_labels={}, speed={"it_per_s": [(100.0, 3.5)]}),
        compared={"camvid_seed3 (teacher)": [(0.0, 10.0), (10.0, 20.0)]},
        class_iou=rp.ClassValues(3500, [81.5, float("nan"), 33.25], NAMES, PALETTE, "metrics.jsonl, teacher"),
        pseudo_labels=rp.PseudoLabels(rp.ClassValues(3990, [90.0, 80.0, 70.0], NAMES, PALETTE),
                                      rp.ClassValues(3990, [60.0, 50.0, 40.0], NAMES, PALETTE)),
        examples=rp.Examples(b"\x89PNG not really", "best.pt", "teacher", "val"), examples_skipped="",
        config_text="train:\n  iters: 4000\n")
    return dataclasses.replace(base, **changes)


def test_rendering_is_pure(monkeypatch):
    d = data()
    before = copy.deepcopy(d)

    def forbidden(*args, **kwargs):
        raise AssertionError("rendering must not read files or the clock")

    for target, name in ((time, "strftime"), (time, "time"), (Path, "read_text"), (Path, "read_bytes"),
                         (Path, "open"), (Path, "glob")):
        monkeypatch.setattr(target, name, forbidden)
    first, second = render_report(d), render_report(d)
    assert first == second
    assert d == before  # the data is not changed by rendering
    assert render_report(data()) == first  # equal data, equal page


def test_hand_made_data_renders_its_names_and_numbers():
    page = render_report(data())
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert "<title>gtaseg run camvid_seed3</title>" in page and "Report generated 2024-05-06 07:08." in page
    assert "1 unreadable line(s) in metrics.jsonl were skipped" in page
    # Summary, last evaluations, `gtaseg eval` results.
    for cell in ("runs/camvid_seed3", "camvid (split 1_8)", "resnet50, output stride 16", "4000 of 4000",
                 "57.12 (teacher, iteration 3500)", "56.50", "91.25", "test_teacher.json", "whole + flip", "54.32"):
        assert f"<td>{cell}</td>" in page, cell
    assert "<tr><td>student</td><td>4000</td><td>55.00</td><td>n/a</td></tr>" in page
    # Charts: only the curve groups that have data, the compared runs, and the class bars (names escaped).
    assert 'aria-label="Losses"' in page and 'aria-label="Training speed"' in page
    assert 'aria-label="Learning rates"' not in page and "camvid_seed3 (teacher)" in page
    assert "<title>road: 81.50</title>" in page and "<title>car &lt;small&gt;: 33.25</title>" in page
    assert "car <small>" not in page and "n/a" in page and "rgb(128,64,128)" in page
    assert "IoU (%) per class, iteration 3500" in page and "Source: metrics.jsonl, teacher." in page
    assert "Precision (%) of kept pseudo labels, iteration 3990" in page and "<title>sky: 50.00</title>" in page
    # The example picture, inline; the configuration verbatim.
    assert re.search(r'src="data:image/png;base64,iVBORyBub3QgcmVhbGx5"', page)
    assert "best.pt, teacher, images from the evaluation set (split val)." in page
    assert "<pre>train:\n  iters: 4000\n</pre>" in page


def test_missing_parts_say_so():
    page = render_report(data(last_evals=None, eval_results=[], compared=None, class_iou=None, pseudo_labels=None,
                              examples=None, examples_skipped="disabled (--examples 0).", config_text="",
                              curves=rp.Curves({}, {}, {}, {}, {}),
                              summary=dataclasses.replace(data().summary, best=None)))
    assert "<tr><td>best mIoU</td><td>n/a</td></tr>" in page
    assert "Last evaluation of each model" not in page and "Runs compared" not in page
    assert "Pseudo labels per class" not in page and "<svg" not in page
    assert "No evaluation with per-class IoU was found." in page and "metrics.jsonl holds no training records" in page
    assert "Examples skipped: disabled (--examples 0)." in page and "config.yaml not found" in page
