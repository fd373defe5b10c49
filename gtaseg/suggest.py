"""`gtaseg suggest`: which unlabeled images of a run to label next.

Every score is the mean over an image's pixels of a map in [0, 1]; higher means "label this first".

- disagreement: the total-variation distance 0.5 * sum_k |p_T - p_A| between the softmax of the teacher and
  of the assistant (GTA-Seg). Where two networks of one run still disagree, at least one of them is wrong,
  so a label there carries information the run lacks.
- student: the same distance between teacher and student, for methods without an assistant (mean_teacher).
- entropy: the teacher's per-pixel entropy divided by log K (one network's own uncertainty).
- random: a seeded draw, the control every other score should beat.

The distance is total variation rather than KL: it is bounded by [0, 1], symmetric and defined where a
probability is 0, so maps and scores read alike for every method and number of classes (the page draws
every map on one fixed 0..1 colour scale).

--spread: CamVid is video, and neighbouring frames score alike, so a plain top K spends the budget on one
scene. Each image is embedded as the spatial mean of the teacher's deepest feature map, taken in the same
forward pass as its prediction (with sliding windows or flip: the mean over those passes). Images are then
taken greedily by score, skipping one whose cosine similarity to an already chosen image is >= the
threshold (0.9 by default). When fewer than K remain, the best skipped images fill the budget, so exactly
K are always chosen.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import html
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import Dataset

from gtaseg import checkpoint as ckpt
from gtaseg.config import Config, apply_overrides, from_dict
from gtaseg.data import build_datasets
from gtaseg.data.datasets import list_dir, read_list
from gtaseg.distributed import resolve_device
from gtaseg.inference import load_trained, predict_probs
from gtaseg.roles import stand_in
from gtaseg.visualize import legend, overlay

SCORES: tuple[str, ...] = ("disagreement", "entropy", "student", "random")
# The networks each score compares; a pair must be two networks of the checkpoint, never a stand-in.
SCORE_MODELS: dict[str, tuple[str, ...]] = {
    "disagreement": ("teacher", "assistant"),
    "student": ("teacher", "student"),
    "entropy": ("teacher",),
    "random": (),
}
DEFAULT_ORDER = ("disagreement", "student", "entropy")  # the CLI's default: the first this checkpoint allows
MAP_TITLES = {
    "disagreement": "teacher vs assistant (total variation)",
    "student": "teacher vs student (total variation)",
    "entropy": "teacher entropy / log K",
    "random": "teacher entropy / log K (the pick itself was random)",
}
DEFAULT_SIMILARITY = 0.9
OUTPUTS = ("ranking.csv", "chosen.txt", "index.html", "images", "splits")  # what --overwrite replaces
PAGE_WIDTH = 480  # the page's pictures are at most this wide; the ranking is computed at full resolution
HEAT = np.array([(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)], np.float64)


@dataclass(frozen=True)
class SuggestRow:
    """One unlabeled image: rank 1 is the most worth labeling; `chosen` marks the budget's picks."""

    id: str
    score: float
    rank: int
    chosen: bool


# ------------------------------------------------------------------------------ the checkpoint
@dataclass
class Job:
    """A checkpoint opened for suggestions: its state, its config (with overrides) and the score."""

    checkpoint: Path
    state: dict[str, Any]
    cfg: Config
    score: str
    overrides: list[str] = field(default_factory=list)

    @property
    def held(self) -> tuple[str, ...]:
        return tuple(self.state["method"]["models"])

    @property
    def run_dir(self) -> Path:
        p = self.checkpoint
        return p.parent.parent if p.parent.name == "checkpoints" else p.parent


def usable_scores(held: Iterable[str]) -> list[str]:
    """The scores a checkpoint holding these roles can compute."""
    held = tuple(held)
    out = []
    for score in SCORES:
        roles = SCORE_MODELS[score]
        if len(roles) == 2 and not all(r in held for r in roles):
            continue
        if len(roles) == 1:
            try:
                stand_in(roles[0], held)  # entropy: a sup_only student answers for its teacher
            except ValueError:
                continue
        out.append(score)
    return out


def check_score(score: str, held: Sequence[str], method: str, path: Path) -> None:
    if score not in SCORES:
        raise ValueError(f"--score {score!r} is not known; choose one of {', '.join(SCORES)}")
    usable = usable_scores(held)
    if score not in usable:
        missing = [r for r in SCORE_MODELS[score] if r not in held]
        raise ValueError(f"--score {score} needs the {' and '.join(missing)} model, which {path} (method {method}) "
                         f"does not hold (it has: {', '.join(held)}); scores that work for this checkpoint: "
                         f"{', '.join(usable)}")


def open_job(checkpoint: str | Path, score: str | None, overrides: Sequence[str] | None = None) -> Job:
    """Load a checkpoint (or a run folder's latest.pt) and check the score before any other work.

    score None: the first of disagreement, student, entropy that the checkpoint allows.
    """
    path = ckpt.resolve(checkpoint)
    state = ckpt.load(path)
    held = tuple(state["method"]["models"])
    method = str(state["config"].get("method", {}).get("name", "?"))
    if score is None:
        score = next(s for s in DEFAULT_ORDER if s in usable_scores(held))
    check_score(score, held, method, path)
    cfg = apply_overrides(from_dict(state["config"]), list(overrides or []))
    return Job(path, state, cfg, score, list(overrides or []))


# ------------------------------------------------------------------------------ the images
@dataclass
class Pool:
    """The run's unlabeled images, un-augmented, and the list entries that name them in split files."""

    images: Dataset
    names: list[str]
    unlabeled_entries: list[str]  # in the order of `names`
    labeled_entries: list[str]
    split_dir: Path | None  # where the dataset reads its lists; None: generated data, no lists on disk
    class_names: list[str]
    palette: list[tuple[int, int, int]]


def names_of(ds: Dataset) -> list[str]:
    samples = getattr(ds, "samples", None)
    if samples is not None:  # files on disk: the names are known without reading an image
        return [s.name for s in samples]
    return [ds[i]["name"] for i in range(len(ds))]


def entries_of(split_dir: Path | None, split: str, kind: str, names: list[str]) -> list[str]:
    """The entries of SPLIT/{kind}.txt, checked against the names the dataset gave (same order)."""
    if split_dir is None:
        return list(names)
    path = split_dir / split / f"{kind}.txt"
    entries = read_list(path, f"data.split={split!r}") if path.is_file() else []
    # Cityscapes lists leftImg8bit/.../NAME_leftImg8bit.png for the sample NAME; other datasets list NAME.
    same = len(entries) == len(names) and all(e == n or Path(e).name.startswith(n) for e, n in zip(entries, names))
    if not same:
        raise RuntimeError(f"{path} does not list the {len(names)} {kind} images the dataset reads; "
                           "pass data.split_dir= (or data.root=) as the run was trained with")
    return entries


def describe_split(cfg: Config) -> str:
    return f"data.split={cfg.data.split!r} of {cfg.data.dataset}" if cfg.data.split else f"{cfg.data.dataset} data"


def load_pool(job: Job) -> Pool:
    cfg = job.cfg
    data = build_datasets(cfg.data)
    if data.num_classes != int(job.state["num_classes"]):
        raise ValueError(f"the dataset has {data.num_classes} classes but {job.checkpoint} predicts "
                         f"{job.state['num_classes']}; set data.num_classes={job.state['num_classes']} or point "
                         "data.* at the data the run was trained on")
    images = copy.copy(data.unlabeled)
    images.transform = None  # full, un-augmented images; the run's own dataset keeps its augmentation
    names = names_of(images)
    if not names:
        raise ValueError(f"{describe_split(cfg)} has no unlabeled images to rank; give a semi-supervised split "
                         "(data.split=NAME with an unlabeled.txt)")
    split_dir = list_dir(cfg.data)
    split = str(cfg.data.split)
    return Pool(images, names, entries_of(split_dir, split, "unlabeled", names),
                entries_of(split_dir, split, "labeled", names_of(data.labeled)), split_dir,
                list(data.class_names), [tuple(int(v) for v in c) for c in data.palette])


def check_budget(budget: int, pool_size: int | None, cfg: Config) -> None:
    """pool_size None: only what needs no data (checked before the datasets are built)."""
    if budget < 1:
        raise ValueError(f"--budget {budget} must be >= 1 (the number of images to label next)")
    if pool_size is not None and budget > pool_size:
        raise ValueError(f"--budget {budget} is more than the {pool_size} unlabeled images of {describe_split(cfg)}; "
                         f"give 1..{pool_size}")


def check_similarity(similarity: float) -> None:
    if not 0 < similarity <= 1:
        raise ValueError(f"--similarity {similarity} must be in (0, 1]: the cosine similarity at which two images "
                         "count as near-duplicates")


# ------------------------------------------------------------------------------ scoring
def tv_distance(p: Tensor, q: Tensor) -> Tensor:
    """Per-pixel total variation between class distributions [B, K, H, W] -> [B, H, W] in [0, 1]."""
    return 0.5 * (p - q).abs().sum(1)


def normalized_entropy(p: Tensor) -> Tensor:
    """Per-pixel entropy / log K of [B, K, H, W] probabilities -> [B, H, W] in [0, 1]."""
    k = p.shape[1]
    h = -torch.special.xlogy(p, p).sum(1)
    return h / float(np.log(k)) if k > 1 else torch.zeros_like(h)


@contextmanager
def feature_means(model: nn.Module) -> Iterator[list[Tensor]]:
    """While open, every forward of the Segmenter appends the spatial mean [B, C] of its deepest feature map, so
    --spread's embedding comes from the passes that give the prediction (each window and the mirrored image too)."""
    means: list[Tensor] = []

    def record(_module: nn.Module, _inputs: Any, feats: Tensor | tuple[Tensor, ...]) -> None:
        deep = feats[-1] if isinstance(feats, tuple) else feats
        means.append(deep.float().mean((2, 3)))

    handle = model.features.register_forward_hook(record)
    try:
        yield means
    finally:
        handle.remove()


@dataclass
class Analysis:
    """One image seen by the score's networks."""

    score_map: Tensor  # [H, W] in [0, 1]
    teacher: Tensor  # teacher probabilities [K, H, W]
    embedding: Tensor | None  # [C]: spatial mean of the teacher's deepest features (--spread)


def probs_of(model: nn.Module, x: Tensor, cfg: Config, num_classes: int) -> Tensor:
    e = cfg.eval
    mode = "sliding" if e.mode == "sliding" else "whole"  # center_crop is a protocol; rank the whole image
    return predict_probs(model, x, num_classes, mode, e.window, e.stride, e.flip)


def score_map(score: str, probs: dict[str, Tensor]) -> Tensor:
    if score == "disagreement":
        return tv_distance(probs["teacher"], probs["assistant"])
    if score == "student":
        return tv_distance(probs["teacher"], probs["student"])
    return normalized_entropy(probs["teacher"])  # entropy; random shows it on the page


@torch.inference_mode()
def analyse(models: dict[str, nn.Module], image: Tensor, job: Job, embed: bool, device: torch.device) -> Analysis:
    """Score maps of one uint8 [3, H, W] image at full resolution."""
    k = int(job.state["num_classes"])
    x = image[None].to(device).float().div_(255)
    with feature_means(models["teacher"]) if embed else nullcontext([]) as means:
        probs = {"teacher": probs_of(models["teacher"], x, job.cfg, k)}
    for role in SCORE_MODELS[job.score][1:]:
        probs[role] = probs_of(models[role], x, job.cfg, k)
    emb = torch.stack(means).mean(0)[0].cpu() if embed else None
    return Analysis(score_map(job.score, probs)[0].cpu(), probs["teacher"][0].cpu(), emb)


def load_models(job: Job, roles: Iterable[str], device: torch.device) -> dict[str, nn.Module]:
    return {r: load_trained(job.state, job.cfg, r, job.checkpoint).to(device) for r in roles}


def score_pool(job: Job, pool: Pool, models: dict[str, nn.Module], spread: bool, seed: int,
               device: torch.device, progress: bool) -> tuple[np.ndarray, Tensor | None]:
    """Scores [N] of the pool's images and, with spread, their embeddings [N, C]."""
    from tqdm import tqdm

    n = len(pool.names)
    random_scores = np.random.default_rng(seed).random(n) if job.score == "random" else None
    if random_scores is not None and not spread:
        return random_scores, None  # nothing to compute
    scores, embeddings = np.zeros(n), []
    for i in tqdm(range(n), desc=f"suggest ({job.score})", unit="img", file=sys.stderr, disable=not progress,
                  dynamic_ncols=True):
        a = analyse(models, pool.images[i]["image"], job, spread, device)
        scores[i] = float(a.score_map.double().mean())
        if a.embedding is not None:
            embeddings.append(a.embedding)
    return (random_scores if random_scores is not None else scores), (torch.stack(embeddings) if spread else None)


def by_score(scores: np.ndarray) -> list[int]:
    """Indices from the highest score down; ties keep the dataset's order."""
    return [int(i) for i in np.argsort(-np.asarray(scores, np.float64), kind="stable")]


def select(scores: np.ndarray, budget: int, embeddings: Tensor | None = None,
           similarity: float = DEFAULT_SIMILARITY) -> list[int]:
    """The budget's picks, in rank order: the top scores, or with embeddings the greedy near-duplicate-free
    picks, topped up with the best skipped images when too few remain."""
    order = by_score(scores)
    if embeddings is None:
        return order[:budget]
    unit = F.normalize(embeddings.double(), dim=1)
    chosen: list[int] = []
    skipped: list[int] = []
    for i in order:
        if len(chosen) == budget:
            break
        if chosen and float((unit[chosen] @ unit[i]).max()) >= similarity:
            skipped.append(i)
        else:
            chosen.append(i)
    chosen += skipped[: budget - len(chosen)]
    position = {i: r for r, i in enumerate(order)}
    return sorted(chosen, key=position.__getitem__)


@dataclass
class Ranking:
    """The rows in rank order, plus what the CLI needs to write the split and the page."""

    rows: list[SuggestRow]
    job: Job
    pool: Pool
    models: dict[str, nn.Module]
    device: torch.device
    budget: int
    skipped: int  # near-duplicates passed over by --spread

    @property
    def chosen(self) -> list[SuggestRow]:
        return [r for r in self.rows if r.chosen]


def rank(job: Job, budget: int, spread: bool = False, similarity: float = DEFAULT_SIMILARITY, seed: int = 0,
         device: str | torch.device = "auto", progress: bool = False) -> Ranking:
    """Score every unlabeled image of the run's split and choose `budget` of them."""
    check_similarity(similarity)
    check_budget(budget, None, job.cfg)
    dev = resolve_device(device, key="--device")
    pool = load_pool(job)
    check_budget(budget, len(pool.names), job.cfg)
    roles = SCORE_MODELS[job.score] or (("teacher",) if spread else ())
    models = load_models(job, roles, dev)
    scores, embeddings = score_pool(job, pool, models, spread, seed, dev, progress)
    picks = set(select(scores, budget, embeddings, similarity))
    order = by_score(scores)
    rows = [SuggestRow(pool.names[i], float(scores[i]), r + 1, i in picks) for r, i in enumerate(order)]
    last = max(r for r, i in enumerate(order) if i in picks)
    skipped = last + 1 - budget  # images above the lowest pick that were not picked
    return Ranking(rows, job, pool, models, dev, budget, skipped)


# ------------------------------------------------------------------------------ outputs
@dataclass
class Written:
    """What `gtaseg suggest` wrote, and the one-line summary it prints."""

    out: Path
    name: str
    ranking: Ranking

    def summary(self) -> str:
        r, job = self.ranking, self.ranking.job
        spread = f", {r.skipped} near-duplicates skipped" if r.skipped else ""
        head = (f"chose {r.budget} of {len(r.rows)} unlabeled images by {job.score}{spread}: {self.out}/chosen.txt, "
                f"{self.out}/index.html, {self.out}/splits/{self.name}")
        if r.pool.split_dir is None:
            return (f"{head}; {job.cfg.data.dataset} data is generated, not read from lists, so the split records "
                    "the choice only")
        config = job.run_dir / "config.yaml"
        train = ["gtaseg", "train", str(config) if config.is_file() else "CONFIG.yaml", *job.overrides,
                 f"data.split_dir={self.out / 'splits'}", f"data.split={self.name}",
                 f"train.out_dir={job.run_dir.with_name(f'{job.run_dir.name}_{self.name}')}"]
        return f"{head}; label them, then: {shlex.join(train)}"


def default_out(job: Job, budget: int) -> Path:
    return job.run_dir / "suggest" / f"{job.score}_{budget}"


def default_name(job: Job, budget: int) -> str:
    return f"{job.cfg.data.split or job.cfg.data.dataset}+{job.score}{budget}"


def check_name(name: str) -> None:
    if not name or name in (".", "..", "full") or "/" in name or "\\" in name:
        raise ValueError(f"--name {name!r} is not a usable split name; give one folder name such as 1_16+entropy23")


def check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"--out {out} exists and is not empty; choose another --out, or pass --overwrite to "
                              f"replace its {', '.join(OUTPUTS)}")


def clear_outputs(out: Path) -> None:
    """Remove what an earlier `gtaseg suggest` wrote here, and nothing else of the folder."""
    for name in OUTPUTS:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def write_ranking(rows: Sequence[SuggestRow], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["rank", "id", "score", "chosen"])
        for r in rows:
            w.writerow([r.rank, r.id, f"{r.score:.6f}", int(r.chosen)])


def write_split(ranking: Ranking, splits: Path, name: str) -> None:
    """splits/NAME/labeled.txt (the run's labeled + the chosen) and unlabeled.txt (the rest), and the
    dataset's val.txt/test.txt beside NAME, so data.split_dir=splits data.split=NAME trains on it."""
    pool = ranking.pool
    entry = dict(zip(pool.names, pool.unlabeled_entries))
    chosen = [entry[r.id] for r in ranking.chosen]
    taken = set(chosen)
    lists = {"labeled.txt": pool.labeled_entries + chosen,
             "unlabeled.txt": [e for e in pool.unlabeled_entries if e not in taken]}
    folder = splits / name
    folder.mkdir(parents=True)
    for file, ids in lists.items():
        (folder / file).write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    for extra in ("val.txt", "test.txt"):
        if pool.split_dir is not None and (pool.split_dir / extra).is_file():
            shutil.copyfile(pool.split_dir / extra, splits / extra)


def heat_map(values: np.ndarray, top: float) -> Image.Image:
    """[H, W] values in [0, top] -> RGB on a dark-to-bright scale; one `top` for a whole page keeps rows comparable."""
    v = np.clip(np.nan_to_num(values.astype(np.float64)) / max(top, 1e-12), 0, 1) * (len(HEAT) - 1)
    stops = np.arange(len(HEAT))
    rgb = np.stack([np.interp(v, stops, HEAT[:, c]) for c in range(3)], axis=-1)
    return Image.fromarray(rgb.round().astype(np.uint8), "RGB")


def shrink_map(values: np.ndarray, width: int = PAGE_WIDTH) -> np.ndarray:
    """A float map at the page's size (so K full-resolution maps are never held at once)."""
    if values.shape[1] <= width:
        return values
    height = max(1, round(values.shape[0] * width / values.shape[1]))
    return np.asarray(Image.fromarray(values.astype(np.float32), "F").resize((width, height),
                                                                             Image.Resampling.BILINEAR))


def shrink(im: Image.Image, width: int = PAGE_WIDTH) -> Image.Image:
    if im.size[0] <= width:
        return im
    return im.resize((width, max(1, round(im.size[1] * width / im.size[0]))), Image.Resampling.BILINEAR)


def file_stem(rank: int, image_id: str) -> str:
    return f"{rank:04d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', image_id)[:80]}"


@dataclass(frozen=True)
class PageItem:
    row: SuggestRow
    image: str  # paths relative to the page
    prediction: str
    score_map: str


PAGE_CSS = ("body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1560px;color:#222;padding:0 16px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:6px;vertical-align:top;text-align:left}"
            "th{background:#f4f4f4}td img{width:320px;height:auto;display:block}.sub{color:#666}"
            ".scale{width:240px;height:12px;display:inline-block;vertical-align:middle;"
            "background:linear-gradient(90deg,rgb(0,0,4),rgb(87,16,110),rgb(188,55,84),rgb(249,142,9),rgb(252,255,164))}")


def render_page(items: Sequence[PageItem], job: Job, total: int, legend_file: str, top: float) -> str:
    """The annotator's page: the chosen images in rank order, each with why it was picked."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{it.row.rank}</td><td>{esc(it.row.id)}<br>score {it.row.score:.4f}</td>"
        f'<td><img src="{esc(it.image)}" alt="image"></td><td><img src="{esc(it.prediction)}" alt="prediction"></td>'
        f'<td><img src="{esc(it.score_map)}" alt="score map"></td></tr>'
        for it in items)
    title = f"{len(items)} images to label next"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{PAGE_CSS}</style>"
            f"</head><body><h1>{esc(title)}</h1><p class='sub'>{len(items)} of {total} unlabeled images of "
            f"{esc(describe_split(job.cfg))}, ranked by <b>{esc(job.score)}</b> with {esc(str(job.checkpoint))} "
            f"(iteration {int(job.state.get('step', 0))}).</p><p>Score map: {esc(MAP_TITLES[job.score])}; "
            f"0 <span class='scale'></span> {top:.3g} (the highest pixel on this page; the maps lie in [0, 1]). "
            "The score is the map's mean.</p>"
            f"<p><img src='{esc(legend_file)}' alt='classes'></p><table><tr><th>rank</th><th>id</th><th>image</th>"
            f"<th>teacher prediction</th><th>score map</th></tr>{rows}</table></body></html>\n")


def write_page(ranking: Ranking, out: Path) -> Path:
    """OUT/index.html and its pictures under OUT/images/ (image, prediction overlay, score map)."""
    job, pool = ranking.job, ranking.pool
    models = dict(ranking.models)
    if "teacher" not in models:  # random without --spread computed nothing
        models.update(load_models(job, ["teacher"], ranking.device))
    page_job = dataclasses.replace(job, score="entropy") if job.score == "random" else job  # a map to show
    images = out / "images"
    images.mkdir(parents=True)
    index = {n: i for i, n in enumerate(pool.names)}
    items, maps = [], []
    for row in ranking.chosen:
        image = pool.images[index[row.id]]["image"]
        a = analyse(models, image, page_job, False, ranking.device)
        rgb = image.permute(1, 2, 0).numpy()
        stem = file_stem(row.rank, row.id)
        shrink(Image.fromarray(rgb)).save(images / f"{stem}_image.png")
        shrink(overlay(rgb, a.teacher.argmax(0).numpy(), pool.palette, 0.5)).save(images / f"{stem}_prediction.png")
        maps.append(shrink_map(a.score_map.numpy()))
        items.append(PageItem(row, f"images/{stem}_image.png", f"images/{stem}_prediction.png",
                              f"images/{stem}_score.png"))
    top = max(float(m.max()) for m in maps)
    for item, values in zip(items, maps):
        heat_map(values, top).save(out / item.score_map)
    legend(pool.class_names, pool.palette, 3 * 320).save(images / "legend.png")
    page = out / "index.html"
    page.write_text(render_page(items, job, len(ranking.rows), "images/legend.png", top), encoding="utf-8")
    return page


def suggest_to_folder(checkpoint: str | Path, budget: int, score: str | None = None, spread: bool = False,
                      similarity: float = DEFAULT_SIMILARITY, seed: int = 0, out: str | Path | None = None,
                      name: str = "", overwrite: bool = False, overrides: Sequence[str] | None = None,
                      device: str = "auto", progress: bool = True) -> Written:
    """`gtaseg suggest`: rank, then write ranking.csv, chosen.txt, splits/NAME/ and index.html into `out`."""
    job = open_job(checkpoint, score, overrides)
    check_similarity(similarity)
    check_budget(budget, None, job.cfg)
    name = name or default_name(job, budget)
    check_name(name)
    folder = Path(out) if out else default_out(job, budget)
    check_out(folder, overwrite)
    ranking = rank(job, budget, spread, similarity, seed, device, progress)
    folder.mkdir(parents=True, exist_ok=True)
    clear_outputs(folder)
    write_ranking(ranking.rows, folder / "ranking.csv")
    (folder / "chosen.txt").write_text("".join(f"{r.id}\n" for r in ranking.chosen), encoding="utf-8")
    write_split(ranking, folder / "splits", name)
    write_page(ranking, folder)
    return Written(folder, name, ranking)
