"""The one training loop shared by every method: set-up, resume, the logged iterations, and
evaluate-and-save. Data streams live in gtaseg/data/loaders.py, scoring in gtaseg/evaluation.py, the
run folder's rules in gtaseg/runs.py and what a run writes in gtaseg/runlog.py."""

from __future__ import annotations

import contextlib
import copy
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gtaseg import checkpoint, distributed
from gtaseg.config import Config, ConfigError, dump, to_dict
from gtaseg.data import DatasetBundle, build_datasets
from gtaseg.data.loaders import eval_loader, labeled_batch, loader_workers, train_loader, unlabeled_batch
from gtaseg.data.tools import check_data
from gtaseg.evaluation import evaluate_models
from gtaseg.methods import METHODS, Method
from gtaseg.models import build_segmenter
from gtaseg.roles import METHOD_ROLES
from gtaseg.runlog import RunLog, Window
from gtaseg.runs import check_compatible, check_unchanged, clear_run, kept, run_lock


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what was kept."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_models(
    cfg: Config, num_classes: int, device: torch.device, info: distributed.DistInfo
) -> dict[str, nn.Module]:
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
    for name in METHOD_ROLES[cfg.method.name][1:]:
        models[name] = copy.deepcopy(student)
    return models


def iters_per_epoch(cfg: Config, data: DatasetBundle, world: int) -> float:
    """One epoch, everywhere in gtaseg (train.epochs, method.warmup_iters=-1): a pass over the
    unlabeled set, or over the labeled set when there is none. The official code defines it so (its
    labeled list is resampled to the unlabeled set's size): on CamVid 1/8, 321 / 4 = 80.25 iterations."""
    if len(data.unlabeled):
        return len(data.unlabeled) / (cfg.data.unlabeled_batch_size * world)
    return len(data.labeled) / (cfg.data.batch_size * world)


@dataclass
class Setup:
    """What one training process works with, derived from the config (which stays as the user wrote it)."""

    data: DatasetBundle
    method: Method
    iters: int  # train.iters, or train.epochs in iterations
    warmup: int  # method.warmup_iters, or one epoch for -1


def set_up(cfg: Config, info: distributed.DistInfo) -> Setup:
    """Threads and seeds, the checked datasets, the models and the method."""
    t = cfg.train
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
    iters = math.ceil(t.epochs * epoch) if t.epochs > 0 else t.iters
    warmup = cfg.method.warmup_iters if cfg.method.warmup_iters >= 0 else math.ceil(epoch)
    models = build_models(cfg, data.num_classes, info.device, info)
    return Setup(data, method_cls(cfg, models, info, warmup, iters), iters, warmup)


def start_or_resume(cfg: Config, info: distributed.DistInfo, s: Setup, latest: Path) -> tuple[int, dict[str, Any]]:
    """(first iteration, best evaluation so far): from latest.pt when resuming, else a fresh start."""
    t = cfg.train
    if not t.resume and info.is_main:
        clear_run(latest.parent.parent, t.overwrite)
    distributed.barrier()
    if not (t.resume and latest.is_file()):
        seed_everything(t.seed * 1000 + info.rank)  # per-rank randomness (dropout, CutMix)
        return 0, {"miou": -1.0, "step": -1}
    state = checkpoint.load(latest)  # host memory: RNG states must stay CPU tensors; weights copy over
    check_compatible(state, cfg, latest)
    check_unchanged(state["config"], cfg, latest)
    s.method.load_state_dict(state["method"])
    checkpoint.set_rng_state(state["rng"][min(info.rank, len(state["rng"]) - 1)])
    if info.is_main:
        print(f"resuming from {latest} at iteration {state['step']}", file=sys.stderr)
    return state["step"], state["best"]


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
    t, device = cfg.train, info.device
    out = Path(t.out_dir)
    latest, best_path = out / "checkpoints" / "latest.pt", out / "checkpoints" / "best.pt"
    s = set_up(cfg, info)
    method, data = s.method, s.data
    start, best = start_or_resume(cfg, info, s, latest)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        dump(cfg, out / "config.yaml")
        print(f"training {cfg.method.name} for {s.iters} iterations ({s.warmup} warm-up) into {out}", file=sys.stderr)
    log = RunLog(out, info.is_main)

    workers = loader_workers(cfg, info, streams=2 if method.needs_unlabeled else 1)
    l_iter = train_loader(data.labeled, cfg.data.batch_size, cfg, info, t.seed, start, workers)
    u_iter = (train_loader(data.unlabeled, cfg.data.unlabeled_batch_size, cfg, info, t.seed + 1, start, workers)
              if method.needs_unlabeled else None)
    ev_loader = eval_loader(data.eval, cfg, info)

    def save(path: Path, step: int) -> None:
        state = {"step": step, "config": to_dict(cfg), "method": method.state_dict(), "best": best,
                 "rng": gather_rng(), "num_classes": data.num_classes, "class_names": data.class_names,
                 "palette": data.palette, "warmup": s.warmup, "iters": s.iters}
        if info.is_main:
            checkpoint.save(state, path)

    bar = None
    if info.is_main and t.progress:
        from tqdm import tqdm

        bar = tqdm(total=s.iters, initial=start, desc=cfg.method.name, dynamic_ncols=True, mininterval=1.0)
    results: dict[str, Any] = {}
    window, tic = Window(start), time.perf_counter()
    for step in range(start, s.iters):
        lrs = method.set_lr(step)
        labeled = labeled_batch(next(l_iter), device, t.channels_last)
        unlabeled = unlabeled_batch(next(u_iter), device, t.channels_last) if u_iter is not None else None
        window.add(method.train_step(labeled, unlabeled, step))  # no host sync: the logs stay on the device
        if bar:
            bar.update(1)
        done = step + 1
        log_now = done % t.log_every == 0 or done == s.iters
        eval_now = (t.eval_every and done % t.eval_every == 0) or done == s.iters
        save_now = done % t.save_every == 0 or done == s.iters
        if not (log_now or eval_now or save_now):
            continue
        # The one sync point: a non-finite loss stops the run before anything is scored or saved.
        if bad := window.first_nonfinite():
            raise TrainingError(f"iteration {bad[0]}: loss is not finite "
                                f"({', '.join(f'{k}={v}' for k, v in bad[1].items())}); "
                                f"stopped, {kept(latest)}; lower train.lr or try train.amp=none")
        if log_now:
            mean = window.summary(device)
            log.write(done, "train", {**mean, **lrs, "it_per_s": len(window) / max(time.perf_counter() - tic, 1e-9)})
            if bar:
                bar.set_postfix({k.split("/")[-1]: f"{v:.3f}" for k, v in mean.items() if k.startswith("loss/")})
            window, tic = Window(done), time.perf_counter()
        if eval_now:
            results = evaluate_models({n: method.eval_model(n) for n in t.eval_models}, ev_loader,
                                      data.num_classes, cfg, device, method.autocast)
            log.write(done, "eval",
                      {f"{k}/{n}": r[k] for n, r in results.items() for k in ("miou", "pixel_acc", "iou")})
            if bar:
                bar.write(f"iteration {done}: " + ", ".join(f"mIoU {n} {r['miou']:.2f}" for n, r in results.items()))
            if results[t.eval_models[0]]["miou"] > best["miou"]:
                best = {"miou": results[t.eval_models[0]]["miou"], "step": done}
                save(best_path, done)
        if save_now:
            save(latest, done)
    if bar:
        bar.close()
    log.close()
    if info.is_main and results:
        report_end(cfg, s, results, out)
    return method, results


def report_end(cfg: Config, s: Setup, results: dict[str, Any], out: Path) -> None:
    for name, r in results.items():
        print(f"mIoU ({name}): {r['miou']:.2f}")
    if s.iters <= s.warmup and cfg.method.name != "sup_only":
        print(f"warning: the run ended inside warm-up (train.iters={s.iters} <= {s.warmup} warm-up iterations): "
              "teacher and assistant were never trained; raise train.iters or lower method.warmup_iters",
              file=sys.stderr)
    print(f"run folder {out}: checkpoints/latest.pt, metrics.jsonl; next: gtaseg report {out}", file=sys.stderr)


def gather_rng() -> list[dict[str, Any]]:
    """Every rank's RNG state (rank order), so a resumed multi-process run continues each stream."""
    mine = checkpoint.rng_state()
    if not distributed.is_initialized():
        return [mine]
    states: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(states, mine)
    return states
