"""The rules of a run folder: one training at a time, nothing deleted or resumed by surprise."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from gtaseg import checkpoint
from gtaseg.config import Config, ConfigError, to_dict


def kept(latest: Path) -> str:
    """What survives a stopped run, in words."""
    if latest.is_file():
        return f"the last checkpoint (iteration {checkpoint.load(latest)['step']}) is kept in {latest}"
    return "no checkpoint had been written yet"


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
