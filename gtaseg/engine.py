"""The one training loop shared by every method, data loading, and evaluation."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from gtaseg import checkpoint, distributed
from gtaseg.config import Config, ConfigError, dump, to_dict
from gtaseg.data import build_datasets
from gtaseg.data.tools import check_data
from gtaseg.metrics import ConfusionMatrix
from gtaseg.methods import METHODS, MODEL_NAMES, Method
from gtaseg.methods.teacher import pl_class_metrics
from gtaseg.models import build_segmenter


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what was kept."""


# ----------------------------------------------------------------------------- data streams


class SeededSampler(Sampler):
    """Endless shuffled stream of (index, seed) for one rank, starting at sample `start` of that rank.

    Epoch e is a permutation drawn from (seed, e), split over ranks; every item carries its own
    augmentation seed from its global position, so the data depend only on the position in the
    stream: a resumed run, another number of workers, or N ranks x batch B against one process x
    batch N*B see exactly the same images.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1, start: int = 0):
        self.n, self.seed, self.rank, self.world, self.start = n, seed, rank, world, start
        self.per_rank = math.ceil(n / world)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, offset = divmod(self.start, self.per_rank)
        while True:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=g)
            perm = perm.repeat(math.ceil(self.per_rank * self.world / self.n))[: self.per_rank * self.world]
            mine = perm[self.rank :: self.world].tolist()
            for i in range(offset, self.per_rank):
                yield mine[i], hash((self.seed, epoch, i * self.world + self.rank)) & 0x7FFFFFFF
            epoch, offset = epoch + 1, 0


class Seeded(Dataset):
    """Applies the per-item seed around the wrapped dataset's (random) transform."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers must not compete with the training step for cores


def train_loader(ds: Dataset, batch: int, cfg: Config, info: distributed.DistInfo, seed: int, start_step: int) -> Iterator:
    sampler = SeededSampler(len(ds), seed, info.rank, info.world_size, start=start_step * batch)
    workers = cfg.data.num_workers
    return iter(DataLoader(Seeded(ds), batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                           pin_memory=info.device.type == "cuda", persistent_workers=workers > 0,
                           prefetch_factor=4 if workers > 0 else None, worker_init_fn=_worker_init,
                           generator=torch.Generator()))  # own generator: never draws from the global RNG


def eval_loader(ds: Dataset, cfg: Config, info: distributed.DistInfo) -> DataLoader:
    # Each rank scores a disjoint shard, no padding, so no image is counted twice.
    shard = list(range(info.rank, len(ds), info.world_size))
    return DataLoader(torch.utils.data.Subset(ds, shard), batch_size=cfg.eval.batch_size,
                      num_workers=min(cfg.data.num_workers, 2), pin_memory=info.device.type == "cuda",
                      worker_init_fn=_worker_init, generator=torch.Generator())


def to_input(images: Tensor, device: torch.device, channels_last: bool = False) -> Tensor:
    """uint8 [B,3,H,W] -> float in [0,1] on the device (the model normalises itself)."""
    x = images.to(device, non_blocking=True).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


# ----------------------------------------------------------------------------- evaluation


def sliding_window(model: nn.Module, x: Tensor, num_classes: int, window: int, stride: int) -> Tensor:
    """Average softmax over windows covering the image; the last window of a row/column ends at the edge.

    A window larger than the image is clipped to it, so a window that covers the image is exactly
    whole-image inference.
    """
    b, _, h, w = x.shape
    wh, ww = min(window, h), min(window, w)
    probs = x.new_zeros(b, num_classes, h, w)
    count = x.new_zeros(1, 1, h, w)

    def starts(size: int, win: int) -> list[int]:
        return sorted({*range(0, size - win, stride), size - win})

    for top in starts(h, wh):
        for left in starts(w, ww):
            crop = x[:, :, top : top + wh, left : left + ww]
            probs[:, :, top : top + wh, left : left + ww] += model(crop).float().softmax(1)
            count[:, :, top : top + wh, left : left + ww] += 1
    return probs / count


def predict_probs(model: nn.Module, x: Tensor, num_classes: int, mode: str = "whole", window: int = 512,
                  stride: int = 341, flip: bool = False) -> Tensor:
    """Class probabilities [B,K,H,W] at the input size, optionally averaged with the mirrored image."""
    def once(inp: Tensor) -> Tensor:
        if mode == "sliding":
            return sliding_window(model, inp, num_classes, window, stride)
        return model(inp).float().softmax(1)

    probs = once(x)
    if flip:
        probs = (probs + once(x.flip(-1)).flip(-1)) / 2
    return probs


def center_crop(x: Tensor, y: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Crop (padding first if smaller: image 0, mask ignore) the central size x size region."""
    h, w = y.shape[-2:]
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        y = F.pad(y, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=255)
        h, w = y.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size], y[..., top : top + size, left : left + size]


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, num_classes: int, cfg: Config, device: torch.device,
             autocast=None) -> dict[str, Any]:
    """Confusion-matrix metrics over the loader (all-reduced over ranks)."""
    return evaluate_models({"model": model}, loader, num_classes, cfg, device, autocast)["model"]


@torch.no_grad()
def evaluate_models(models: dict[str, nn.Module], loader: DataLoader, num_classes: int, cfg: Config,
                    device: torch.device, autocast=None) -> dict[str, dict[str, Any]]:
    """Metrics of several models in one pass over the loader: each image is read and moved once.
    Names that map to the same module (sup_only's teacher is its student) are scored once."""
    e = cfg.eval
    unique = {id(m): m for m in models.values()}
    was_training = {k: m.training for k, m in unique.items()}
    cms = {k: ConfusionMatrix(num_classes, device) for k in unique}
    for m in unique.values():
        m.eval()
    for batch in loader:
        x = to_input(batch["image"], device, cfg.train.channels_last)
        y = batch["mask"].to(device)
        if e.mode == "center_crop":
            x, y = center_crop(x, y, e.crop_size)
        for k, m in unique.items():
            with autocast() if autocast else torch.autocast(device.type, enabled=False):
                probs = predict_probs(m, x, num_classes, e.mode, e.window, e.stride, e.flip)
            cms[k].update(probs.argmax(1), y)
    results = {}
    for k, m in unique.items():
        cms[k].all_reduce()
        m.train(was_training[k])
        results[k] = cms[k].compute()
    return {name: results[id(m)] for name, m in models.items()}


# ----------------------------------------------------------------------------- set-up


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_models(cfg: Config, num_classes: int, device: torch.device, info: distributed.DistInfo) -> dict[str, nn.Module]:
    """The method's models; teacher and assistant start as real copies (deepcopy) of the student."""
    student = build_segmenter(cfg.model, num_classes)
    if cfg.train.sync_bn and info.enabled and device.type != "cuda":
        raise ConfigError("train.sync_bn=true needs CUDA devices (SyncBatchNorm); use train.sync_bn=false on CPU")
    if cfg.train.sync_bn and info.enabled:
        student = nn.SyncBatchNorm.convert_sync_batchnorm(student)
    student.to(device)
    if cfg.train.channels_last:
        student.to(memory_format=torch.channels_last)
    models = {"student": student}
    for name in MODEL_NAMES[cfg.method.name][1:]:
        models[name] = copy.deepcopy(student)
    return models


def iters_per_epoch(cfg: Config, data, world: int) -> float:
    """One epoch, everywhere in gtaseg (train.epochs, method.warmup_iters=-1): a pass over the
    unlabeled set, or over the labeled set when there is none. The official code defines it so (its
    labeled list is resampled to the unlabeled set's size): on CamVid 1/8, 321 / 4 = 80.25 iterations."""
    if len(data.unlabeled):
        return len(data.unlabeled) / (cfg.data.unlabeled_batch_size * world)
    return len(data.labeled) / (cfg.data.batch_size * world)


class RunLog:
    """metrics.jsonl and TensorBoard scalars, written by rank 0 only."""

    def __init__(self, out_dir: Path, enabled: bool):
        self.enabled = enabled
        self.path = out_dir / "metrics.jsonl"
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out_dir / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self.tb = None

    def write(self, step: int, kind: str, values: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, "kind": kind, "time": round(time.time(), 3), **values}) + "\n")
        if self.tb:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(k if "/" in k else f"{kind}/{k}", v, step)

    def close(self) -> None:
        if self.tb:
            self.tb.close()


# ----------------------------------------------------------------------------- the loop


def train(cfg: Config) -> dict[str, Any]:
    """Train `cfg` (resuming from out_dir/checkpoints/latest.pt when present); returns the last evaluation."""
    info = distributed.init(cfg.train.device)
    try:
        # The lock keeps a second run out of this folder; SIGTERM becomes an exception, so that a save
        # it interrupts removes its temporary file.
        with run_lock(Path(cfg.train.out_dir)) if info.is_main else contextlib.nullcontext(), \
                distributed.sigterm_as_exit():
            results = fit(cfg, info)[1]
    except BaseException as e:
        if info.enabled:  # another rank may wait in a collective: no barrier, leave now (torchrun ends the rest)
            distributed.abort(info, e)
        raise
    distributed.cleanup(info)
    return results


def fit(cfg: Config, info: distributed.DistInfo) -> tuple[Method, dict[str, Any]]:
    """The training loop in this process (one rank of a torchrun job, or the only process)."""
    t = cfg.train
    device = info.device
    out = Path(t.out_dir)
    ckpt_dir = out / "checkpoints"
    if t.threads:  # on a shared or small machine fewer threads than cores can be much faster
        torch.set_num_threads(t.threads)
    if t.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    # Training crops have one size: cuDNN may time its kernels once and keep the fastest.
    torch.backends.cudnn.benchmark = not t.deterministic
    seed_everything(t.seed)  # same model initialisation on every rank

    data = build_datasets(cfg.data)
    if info.is_main:  # bad data stops the run before iteration 1, not mid-run (the other ranks are then ended)
        check = check_data(cfg.data, data, progress=t.progress)
        for w in check.warnings:
            print(f"warning: {w}", file=sys.stderr)
        if check.errors:
            more = f" (and {len(check.errors) - 1} more: gtaseg data check lists them)" if len(check.errors) > 1 else ""
            raise ConfigError(check.errors[0] + more)
    method_cls: type[Method] = METHODS[cfg.method.name]
    if len(data.labeled) < cfg.data.batch_size * info.world_size:
        raise ConfigError(f"labeled set has {len(data.labeled)} images, fewer than one batch "
                          f"(data.batch_size={cfg.data.batch_size} x {info.world_size} processes); check data.split")
    if method_cls.needs_unlabeled and len(data.unlabeled) < cfg.data.unlabeled_batch_size * info.world_size:
        raise ConfigError(f"method.name={cfg.method.name} needs unlabeled images, but data.split={cfg.data.split!r} "
                          f"gives {len(data.unlabeled)}; choose a semi-supervised split or method.name=sup_only")
    epoch = iters_per_epoch(cfg, data, info.world_size)
    if t.epochs > 0:
        t.iters = math.ceil(t.epochs * epoch)
    models = build_models(cfg, data.num_classes, device, info)
    warmup = cfg.method.warmup_iters if cfg.method.warmup_iters >= 0 else math.ceil(epoch)
    method = method_cls(cfg, models, info, warmup)

    start, best = 0, {"miou": -1.0, "step": -1}
    latest = ckpt_dir / "latest.pt"
    if not t.resume and info.is_main:
        clear_run(out, t.overwrite)
    distributed.barrier()
    if t.resume and latest.is_file():
        state = checkpoint.load(latest)  # host memory: RNG states must stay CPU tensors; weights copy over
        check_compatible(state, cfg, latest)
        check_unchanged(state["config"], cfg, latest)
        method.load_state_dict(state["method"])
        start, best = state["step"], state["best"]
        checkpoint.set_rng_state(state["rng"][min(info.rank, len(state["rng"]) - 1)])
        if info.is_main:
            print(f"resuming from {latest} at iteration {start}", file=sys.stderr)
    else:
        seed_everything(t.seed * 1000 + info.rank)  # per-rank randomness (dropout, CutMix)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        dump(cfg, out / "config.yaml")
        print(f"training {cfg.method.name} for {t.iters} iterations ({warmup} warm-up) into {out}", file=sys.stderr)
    log = RunLog(out, info.is_main)

    l_iter = train_loader(data.labeled, cfg.data.batch_size, cfg, info, t.seed, start)
    u_iter = (train_loader(data.unlabeled, cfg.data.unlabeled_batch_size, cfg, info, t.seed + 1, start)
              if method.needs_unlabeled else None)
    ev_loader = eval_loader(data.eval, cfg, info)

    def state_at(step: int) -> dict[str, Any]:
        rngs = gather_rng()
        return {"step": step, "config": to_dict(cfg), "method": method.state_dict(), "best": best, "rng": rngs,
                "num_classes": data.num_classes, "class_names": data.class_names, "palette": data.palette,
                "warmup": warmup}

    bar = None
    if info.is_main and t.progress:
        from tqdm import tqdm

        bar = tqdm(total=t.iters, initial=start, desc=cfg.method.name, dynamic_ncols=True, mininterval=1.0)
    results: dict[str, Any] = {}
    window: list[dict[str, float]] = []
    tic = time.perf_counter()
    for step in range(start, t.iters):
        lrs = method.set_lr(step)
        b_l = next(l_iter)
        x_l = to_input(b_l["image"], device, t.channels_last)
        y_l = b_l["mask"].to(device, non_blocking=True)
        x_u, u = None, {}
        if u_iter is not None:
            b_u = next(u_iter)
            x_u = to_input(b_u["image"], device, t.channels_last)
            u = {"mask": b_u["mask"].to(device, non_blocking=True), "valid": b_u["valid"].to(device, non_blocking=True)}
        logs = method.train_step(x_l, y_l, x_u, u, step)
        bad = {k: v for k, v in logs.items() if k.startswith("loss/") and not math.isfinite(v)}
        if bad:
            raise TrainingError(f"iteration {step}: loss is not finite ({', '.join(f'{k}={v}' for k, v in bad.items())}); "
                                f"stopped, {kept(latest)}; lower train.lr or try train.amp=none")
        window.append(logs)
        if bar:
            bar.update(1)
        done = step + 1
        if done % t.log_every == 0 or done == t.iters:
            mean = distributed.all_reduce_mean(window_summary(window), device)
            mean, counts = split_counts(mean)
            elapsed = time.perf_counter() - tic
            log.write(done, "train", {**mean, **pl_class_metrics(counts), **lrs,
                                      "it_per_s": len(window) / max(elapsed, 1e-9)})
            if bar:
                bar.set_postfix({k.split("/")[-1]: f"{v:.3f}" for k, v in mean.items() if k.startswith("loss/")})
            window, tic = [], time.perf_counter()
        if (t.eval_every and done % t.eval_every == 0) or done == t.iters:
            results = evaluate_models({n: method.eval_model(n) for n in t.eval_models}, ev_loader,
                                      data.num_classes, cfg, device, method.autocast)
            log.write(done, "eval", {f"{k}/{n}": r[k] for n, r in results.items() for k in ("miou", "pixel_acc", "iou")})
            main = results[t.eval_models[0]]["miou"]
            if bar:
                bar.write(f"iteration {done}: " + ", ".join(f"mIoU {n} {r['miou']:.2f}" for n, r in results.items()))
            if main > best["miou"]:
                best = {"miou": main, "step": done}
                state = state_at(done)
                if info.is_main:
                    checkpoint.save(state, ckpt_dir / "best.pt")
        if done % t.save_every == 0 or done == t.iters:
            state = state_at(done)
            if info.is_main:
                checkpoint.save(state, latest)
    if bar:
        bar.close()
    log.close()
    if info.is_main and results:
        for name, r in results.items():
            print(f"mIoU ({name}): {r['miou']:.2f}")
        if t.iters <= warmup and cfg.method.name != "sup_only":
            print(f"warning: the run ended inside warm-up (train.iters={t.iters} <= {warmup} warm-up iterations): "
                  "teacher and assistant were never trained; raise train.iters or lower method.warmup_iters",
                  file=sys.stderr)
        print(f"run folder {out}: checkpoints/latest.pt, metrics.jsonl; next: gtaseg report {out}", file=sys.stderr)
    return method, results


def window_summary(window: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each scalar over the log window; per-class `count/` lists are summed, one key per class."""
    out: dict[str, float] = {}
    for k in sorted({k for w in window for k in w}):
        values = [w[k] for w in window if k in w]
        if isinstance(values[0], list):
            out.update((f"{k}/{i}", float(v)) for i, v in enumerate(np.sum(values, 0)))
        else:
            out[k] = float(np.mean(values))
    return out


def split_counts(values: dict[str, float]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Scalars, and the `count/NAME/I` entries regrouped as lists by NAME."""
    scalars = {k: v for k, v in values.items() if not k.startswith("count/")}
    counts: dict[str, dict[int, float]] = {}
    for k, v in values.items():
        if k.startswith("count/"):
            name, i = k.rsplit("/", 1)
            counts.setdefault(name, {})[int(i)] = v
    return scalars, {n: [c[i] for i in sorted(c)] for n, c in counts.items()}


def kept(latest: Path) -> str:
    """What survives a stopped run, in words."""
    if latest.is_file():
        return f"the last checkpoint (iteration {checkpoint.load(latest)['step']}) is kept in {latest}"
    return "no checkpoint had been written yet"


def gather_rng() -> list[dict[str, Any]]:
    """Every rank's RNG state (rank order), so a resumed multi-process run continues each stream."""
    mine = checkpoint.rng_state()
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [mine]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, mine)
    return states


RUN_FILES = ("checkpoints", "metrics.jsonl", "tensorboard", "eval", "config.yaml", "report.html")
# Keys that change how a run is watched or where it reads from, never what it computes.
RESUME_FREE = ("train.progress", "train.log_every", "train.eval_every", "train.save_every", "train.eval_models",
               "train.device", "train.resume", "train.resume_changes", "train.overwrite", "train.out_dir",
               "train.threads", "data.root", "data.num_workers", "eval")


def run_lock(out: Path):
    """An exclusive lock on the run folder while the returned file is open (the OS releases it if the
    process dies, so a lock is never stale)."""
    import fcntl
    import os

    out.mkdir(parents=True, exist_ok=True)
    f = (out / ".lock").open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        owner = f.read().strip() or "another process"
        raise ConfigError(f"train.out_dir={out} is in use by {owner}; wait for it to end or choose another "
                          "train.out_dir") from None
    f.seek(0)
    f.truncate()
    f.write(f"process {os.getpid()} started {time.strftime('%Y-%m-%d %H:%M:%S')}")
    f.flush()
    return f


def clear_run(out: Path, overwrite: bool) -> None:
    """train.resume=false: start over only in an empty folder, or delete the old run when asked to."""
    present = [n for n in RUN_FILES if (out / n).exists()]
    if not present:
        return
    if not overwrite:
        latest = out / "checkpoints" / "latest.pt"
        what = f"a run (checkpoint at iteration {checkpoint.load(latest)['step']})" if latest.is_file() else "a run"
        raise ConfigError(f"train.out_dir={out} already holds {what}: {', '.join(present)}; resume it (drop "
                          "train.resume=false), choose another train.out_dir, or add train.overwrite=true to delete "
                          f"{', '.join(present)} first")
    import shutil

    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    print(f"train.overwrite=true: deleted {', '.join(present)} of {out}", file=sys.stderr)


def config_changes(saved: dict[str, Any], cfg: Config) -> list[tuple[str, Any, Any]]:
    """(key, checkpoint value, this run's value) for every key that differs and is not in RESUME_FREE."""
    now = to_dict(cfg)
    changes = []
    for sec, values in now.items():
        for key, value in values.items():
            name = f"{sec}.{key}"
            if sec in RESUME_FREE or name in RESUME_FREE:
                continue
            old = saved.get(sec, {}).get(key, value)
            if old != value:
                changes.append((name, old, value))
    return changes


def check_unchanged(saved: dict[str, Any], cfg: Config, path: Path) -> None:
    """Resume only with the settings the checkpoint was trained with, unless a change is accepted by name."""
    changes = [c for c in config_changes(saved, cfg) if c[0] not in cfg.train.resume_changes]
    if changes:
        listed = ", ".join(f"{k}: {old!r} in the checkpoint, {new!r} now" for k, old, new in changes)
        raise ConfigError(f"{path}: resuming with changed settings ({listed}); drop those overrides to resume as "
                          f"trained, choose another train.out_dir for a new run, or accept the change with "
                          f"train.resume_changes={','.join(k for k, _, _ in changes)}")


def check_compatible(state: dict[str, Any], cfg: Config, path: Path) -> None:
    """Refuse to resume a checkpoint made with another model or method."""
    saved = state["config"]
    for sec, key in (("model", "backbone"), ("model", "feature_split"), ("method", "name"), ("data", "dataset")):
        old, new = saved[sec][key], getattr(getattr(cfg, sec), key)
        if old != new:
            raise ConfigError(f"{path} was written with {sec}.{key}={old}, but this run has {sec}.{key}={new}; "
                              f"use another train.out_dir or train.resume=false to start over")
