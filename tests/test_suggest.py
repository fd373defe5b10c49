"""`gtaseg suggest` and gtaseg.api.suggest: ranking, the written split, the page, --spread, errors."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gtaseg import checkpoint
from gtaseg import suggest as advisor
from gtaseg.api import suggest
from gtaseg.cli import main
from gtaseg.config import from_dict, load_config
from gtaseg.data import build_datasets
from gtaseg.data.synthetic import SyntheticShapes
from gtaseg.inference import load_trained, predict_probs

TARGET = 5  # the unlabeled image made to divide teacher and assistant (not the first: order alone cannot pass)


def unlabeled_image(run: Path, index: int) -> tuple[str, torch.Tensor]:
    """Name and un-augmented uint8 image of one unlabeled item of the tiny run."""
    cfg = from_dict(checkpoint.load(checkpoint.resolve(run))["config"])
    ds = build_datasets(cfg.data).unlabeled
    ds.transform = None
    item = ds[index]
    return item["name"], item["image"]


def make_folder(root: Path, n_labeled: int = 2, n_unlabeled: int = 8, n_val: int = 2) -> list[str]:
    """A folder dataset of 5-class synthetic images (the tiny run's classes) with split 's' and
    splits/val.txt; returns the unlabeled ids."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    shapes = SyntheticShapes(n_labeled + n_unlabeled + n_val, 48, 5, 7, "eval")
    ids = [f"im{i:02d}" for i in range(len(shapes))]
    for i, name in enumerate(ids):
        item = shapes[i]
        Image.fromarray(item["image"].permute(1, 2, 0).numpy()).save(root / "images" / f"{name}.png")
        Image.fromarray(item["mask"].numpy().astype(np.uint8)).save(root / "masks" / f"{name}.png")
    lab, unl, val = ids[:n_labeled], ids[n_labeled : n_labeled + n_unlabeled], ids[n_labeled + n_unlabeled :]
    (root / "splits" / "s").mkdir(parents=True)
    for path, names in ((root / "splits/s/labeled.txt", lab), (root / "splits/s/unlabeled.txt", unl),
                        (root / "splits/val.txt", val)):
        path.write_text("".join(f"{n}\n" for n in names))
    return unl


def folder_overrides(root: Path) -> list[str]:
    return ["data.dataset=folder", f"data.root={root}", "data.split=s", "data.num_classes=5"]


def derived_checkpoint(run: Path, tmp: Path, method: str, roles: tuple[str, ...]) -> Path:
    """The tiny GTA checkpoint re-labelled as another method that holds only `roles`."""
    state = checkpoint.load(checkpoint.resolve(run))
    state["method"]["models"] = {r: state["method"]["models"][r] for r in roles}
    state["config"]["method"]["name"] = method
    path = tmp / method / "checkpoints" / "latest.pt"
    checkpoint.save(state, path)
    return path


def page_sources(page: Path) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page.read_text())


# ------------------------------------------------------------------------------ (1) disagreement
def test_the_image_teacher_and_assistant_disagree_on_ranks_first(run, monkeypatch):
    target_name, target_image = unlabeled_image(run, TARGET)
    target = target_image[None].float() / 255

    class Contrary(torch.nn.Module):
        """The teacher's own network, except that it contradicts the teacher on the target image."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = self.model(x)
            same = x.shape == target.shape and torch.equal(x.cpu(), target)
            return -logits if same else logits

    def fake_load(state, cfg, name="teacher", path="checkpoint"):
        if name == "assistant":
            return Contrary(load_trained(state, cfg, "teacher", path))
        return load_trained(state, cfg, name, path)

    monkeypatch.setattr(advisor, "load_trained", fake_load)
    rows = suggest(run, budget=1, device="cpu")
    assert len(rows) == 16 and [r.rank for r in rows] == list(range(1, 17))
    assert rows[0].id == target_name and rows[0].chosen and rows[0].score > 0.01
    assert all(r.score < 1e-6 and not r.chosen for r in rows[1:])  # the assistant is the teacher elsewhere


# ------------------------------------------------------------------------------ (2) entropy
def test_entropy_ranking_equals_a_direct_computation(run):
    rows = {r.id: r for r in suggest(run, budget=2, score="entropy", device="cpu")}
    state = checkpoint.load(checkpoint.resolve(run))
    teacher = load_trained(state, from_dict(state["config"]), "teacher")
    expected = {}
    for i in (0, 1):
        name, image = unlabeled_image(run, i)
        with torch.no_grad():
            p = predict_probs(teacher, image[None].float() / 255, 5)[0].double()
        expected[name] = float((-(p * p.clamp_min(1e-30).log()).sum(0) / math.log(5)).mean())
    (a, ea), (b, eb) = expected.items()
    assert rows[a].score == pytest.approx(ea, rel=1e-5) and rows[b].score == pytest.approx(eb, rel=1e-5)
    assert (rows[a].rank < rows[b].rank) == (ea > eb)
    assert sum(r.chosen for r in rows.values()) == 2


# ------------------------------------------------------------------------------ (3) the split
def test_written_split_is_disjoint_complete_and_trains(run, tmp_path, capsys):
    root = tmp_path / "data"
    unlabeled = make_folder(root)
    out = tmp_path / "out"
    overrides = folder_overrides(root)
    assert main(["suggest", str(run), "--budget", "3", "--score", "entropy", "--out", str(out), "--no-progress",
                 *overrides]) == 0
    name = "s+entropy3"
    summary = capsys.readouterr().out
    assert f"data.split_dir={out / 'splits'}" in summary and f"data.split={name}" in summary
    chosen = (out / "chosen.txt").read_text().split()
    new_lab = (out / "splits" / name / "labeled.txt").read_text().split()
    new_unl = (out / "splits" / name / "unlabeled.txt").read_text().split()
    old_lab = (root / "splits/s/labeled.txt").read_text().split()
    assert len(chosen) == 3 and set(chosen) <= set(unlabeled)
    assert set(new_lab) | set(new_unl) == set(old_lab) | set(unlabeled)
    assert not set(new_lab) & set(new_unl)
    assert len(new_lab) == len(old_lab) + 3 and set(new_lab) == set(old_lab) | set(chosen)
    assert (out / "splits" / "val.txt").read_text() == (root / "splits" / "val.txt").read_text()
    csv_rows = (out / "ranking.csv").read_text().splitlines()
    assert csv_rows[0] == "rank,id,score,chosen" and len(csv_rows) == 1 + len(unlabeled)
    cfg = load_config("demo", [*overrides, f"data.split_dir={out / 'splits'}", f"data.split={name}"])
    data = build_datasets(cfg.data)
    assert (len(data.labeled), len(data.unlabeled), len(data.eval)) == (5, 5, 2)
    assert {s.name for s in data.labeled.samples} == set(new_lab)


# ------------------------------------------------------------------------------ (4) the page
def test_page_shows_the_chosen_images_in_rank_order(run, tmp_path):
    out = tmp_path / "page"
    assert main(["suggest", str(run), "--budget", "3", "--out", str(out), "--no-progress"]) == 0
    chosen = (out / "chosen.txt").read_text().split()
    page = out / "index.html"
    text = page.read_text()
    sources = page_sources(page)
    assert len(chosen) == 3 and len(sources) == 3 * 3  # image, prediction, score map per chosen image
    assert all((out / s).is_file() and s.startswith("images/") for s in sources)
    positions = [text.index(f">{c}<") for c in chosen]
    assert positions == sorted(positions)
    ranked = [line.split(",")[1] for line in (out / "ranking.csv").read_text().splitlines()[1:4]]
    assert chosen == ranked  # without --spread the picks are the top of the ranking
    assert "disagreement" in text and (out / "images" / "legend.png").is_file()


# ------------------------------------------------------------------------------ (5) --spread
def test_spread_skips_an_exact_duplicate(run, tmp_path):
    root = tmp_path / "data"
    make_folder(root)
    overrides = folder_overrides(root)
    top = suggest(run, budget=1, score="entropy", overrides=overrides, device="cpu")[0].id
    shutil.copyfile(root / "images" / f"{top}.png", root / "images" / "dup.png")
    shutil.copyfile(root / "masks" / f"{top}.png", root / "masks" / "dup.png")
    with open(root / "splits/s/unlabeled.txt", "a") as f:
        f.write("dup\n")
    plain = [r.id for r in suggest(run, budget=2, score="entropy", overrides=overrides, device="cpu") if r.chosen]
    spread = [r.id for r in suggest(run, budget=2, score="entropy", spread=True, overrides=overrides, device="cpu")
              if r.chosen]
    assert sorted(plain) == sorted([top, "dup"])
    assert len(spread) == 2 and len({top, "dup"} & set(spread)) == 1


def test_spread_fills_the_budget_with_the_best_skipped():
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    same = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
    assert advisor.select(scores, 2, same) == [0, 3]
    assert advisor.select(scores, 3, same) == [0, 1, 3]  # too few distinct: the best skipped fills in
    assert advisor.select(scores, 2) == [0, 1]


def test_spread_similarity_benchmark_finds_the_duplicate(run, tmp_path):
    """benchmarks/spread_similarity.py embeds a ranking's top as --spread does: an exact copy is 1.00 alike
    and is never picked beside its original."""
    root = tmp_path / "data"
    unlabeled = make_folder(root)
    overrides = folder_overrides(root)
    top = unlabeled[3]
    shutil.copyfile(root / "images" / f"{top}.png", root / "images" / "dup.png")
    shutil.copyfile(root / "masks" / f"{top}.png", root / "masks" / "dup.png")
    with open(root / "splits/s/unlabeled.txt", "a") as f:
        f.write("dup\n")
    order = [top, "dup", *[u for u in unlabeled if u != top]]
    ranking = tmp_path / "ranking.csv"
    ranking.write_text("rank,id,score,chosen\n" + "".join(f"{i + 1},{n},{1 - i / 10:.1f},0\n"
                                                           for i, n in enumerate(order)))
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "spread_similarity.py"
    out = subprocess.run([sys.executable, str(script), str(run), str(ranking), "--top", "9", "--budget", "2",
                          *overrides], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "to its nearest other image:" in lines[0] and "max 1.00" in lines[0]
    [strict] = [line for line in lines if line.startswith("--similarity 0.95:")]
    assert "dup" not in strict and ("skipped" in strict or "distinct" in strict)


# ------------------------------------------------------------------------------ (6) errors
def test_errors_name_the_value_and_the_fix(run, tmp_path, capsys):
    def error(*args: str) -> str:
        assert main(["suggest", *args, "--no-progress"]) == 2
        return capsys.readouterr().err

    err = error(str(run), "--budget", "17", "--out", str(tmp_path / "a"))
    assert "--budget 17 is more than the 16 unlabeled images" in err and "give 1..16" in err
    assert "--budget 0 must be >= 1" in error(str(run), "--budget", "0", "--out", str(tmp_path / "a"))
    assert not (tmp_path / "a").exists()

    mean_teacher = derived_checkpoint(run, tmp_path, "mean_teacher", ("student", "teacher"))
    # The data overrides point nowhere: the score fails first, before any dataset is read.
    err = error(str(mean_teacher), "--budget", "1", "--score", "disagreement", "data.dataset=folder",
                f"data.root={tmp_path / 'nowhere'}")
    assert "--score disagreement needs the assistant model" in err
    assert "scores that work for this checkpoint: entropy, student, random" in err
    sup_only = derived_checkpoint(run, tmp_path, "sup_only", ("student",))
    err = error(str(sup_only), "--budget", "1", "--score", "student")
    assert "needs the teacher model" in err and "scores that work for this checkpoint: entropy, random" in err
    with pytest.raises(ValueError, match="needs the assistant model"):
        suggest(mean_teacher, budget=1)

    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    err = error(str(run), "--budget", "1", "--out", str(out))
    assert f"--out {out} exists and is not empty" in err and "--overwrite" in err
    assert main(["suggest", str(run), "--budget", "1", "--out", str(out), "--overwrite", "--no-progress"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and (out / "chosen.txt").is_file()
