"""Data pipeline throughput against what the training step consumes, and peak memory of a training run.

    python benchmarks/data_memory.py                    # camvid_cpu, its data.num_workers
    python benchmarks/data_memory.py --batches 40 --train-iters 30

1. Loader: images per second delivered by the labeled + unlabeled loaders (with the config's workers,
   augmentation included), measured alone; compared with the images per second one GTA step consumes
   (from benchmarks/step_time.py's figure, given with --step-ms, or measured here on the same machine).
2. Memory: peak resident memory (sum over the process and its loader workers, sampled every 0.1 s)
   of `gtaseg train CONFIG` for --train-iters iterations.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gtaseg.config import load_config
from gtaseg.data import build_datasets
from gtaseg.data.loaders import loader_workers, train_loader
from gtaseg.distributed import DistInfo


def tree_rss(pid: int) -> int:
    """Resident bytes of pid and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="camvid_cpu")
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--train-iters", type=int, default=30)
    p.add_argument("--step-ms", type=float, default=0.0, help="GTA step time to compare with (ms)")
    p.add_argument("overrides", nargs="*")
    a = p.parse_args()
    cfg = load_config(a.config, a.overrides)
    data = build_datasets(cfg.data)
    info = DistInfo()
    workers = loader_workers(cfg, info)
    lab = train_loader(data.labeled, cfg.data.batch_size, cfg, info, 0, 0, workers)
    unl = train_loader(data.unlabeled, cfg.data.unlabeled_batch_size, cfg, info, 1, 0, workers)
    next(lab), next(unl)  # start the workers
    t = time.perf_counter()
    for _ in range(a.batches):
        next(lab), next(unl)
    dt = time.perf_counter() - t
    per_batch = cfg.data.batch_size + cfg.data.unlabeled_batch_size
    rate = a.batches * per_batch / dt
    print(f"loader: {rate:.1f} images/s ({workers} workers per stream, crop {cfg.data.crop_size}, "
          f"{per_batch} images per iteration)")
    if a.step_ms:
        need = per_batch / (a.step_ms / 1000)
        print(f"a GTA step of {a.step_ms:.0f} ms consumes {need:.1f} images/s: loader / need = {rate / need:.2f}")
    del lab, unl

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "gtaseg", "train", a.config, *a.overrides, f"train.iters={a.train_iters}",
               "train.eval_every=0", "train.progress=false", f"train.out_dir={Path(tmp) / 'run'}"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak, t0 = 0, time.perf_counter()
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.1)
        if proc.returncode:
            sys.exit(f"training failed: {proc.stderr.read()[-2000:]}")
        wall = time.perf_counter() - t0
    print(f"peak memory of `gtaseg train {a.config}` ({a.train_iters} iterations + final evaluation, "
          f"process + workers): {peak / 2**30:.2f} GiB; wall {wall:.0f} s")


if __name__ == "__main__":
    main()
