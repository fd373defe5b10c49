"""torchrun environment, single-process fallback, and rank-0 helpers."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this process created the process group (and destroys it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("train.device=cuda but no CUDA device is available; use train.device=cpu or auto")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init(device_name: str = "auto") -> DistInfo:
    """Join the torchrun process group when launched by torchrun, else run as a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local)
    owns = world > 1 and not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, device, owns)


def wrap(model: nn.Module, info: DistInfo) -> nn.Module:
    """DDP for models that receive gradients; the unwrapped module stays the one EMA touches."""
    if not info.enabled:
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    # Buffers (BatchNorm statistics) follow rank 0 at every forward, so all ranks stay identical.
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of each logged value over the ranks that have it (keys may differ between ranks)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    key_sets: list = [None] * dist.get_world_size()
    dist.all_gather_object(key_sets, sorted(values))
    keys = sorted(set().union(*key_sets))
    t = torch.tensor([[values.get(k, 0.0), float(k in values)] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: s / n for k, (s, n) in zip(keys, t.tolist()) if n > 0}


def cleanup(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.barrier()  # no rank tears down the group while another still uses it
        dist.destroy_process_group()


@contextlib.contextmanager
def sigterm_as_exit():
    """Turn SIGTERM into SystemExit(143) inside the block, so `finally` and cleanup code run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def peer_failed(e: BaseException) -> bool:
    """A collective failed because another process of the job went away (not this rank's own fault)."""
    text = str(e).lower()
    return isinstance(e, getattr(dist, "DistError", ())) or any(
        s in text for s in ("connection closed by peer", "connection reset by peer", "broken pipe"))


def abort(info: DistInfo, e: BaseException) -> None:
    """End this rank of a multi-process job at once: print the cause (once: a rank that only saw a peer
    go away says so) and exit without a barrier, which would wait forever for the failed rank."""
    from gtaseg.cli import one_line

    if isinstance(e, SystemExit):
        msg = f"stopped by signal {int(e.code) - 128}" if isinstance(e.code, int) and e.code > 128 else "stopped"
    elif isinstance(e, KeyboardInterrupt):
        msg = "interrupted"
    elif peer_failed(e):
        msg = "stopped because another process of this job failed (its error is printed above)"
    else:
        msg = f"error: {one_line(e)}"
    print(f"rank {info.rank}: {msg}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(130 if isinstance(e, KeyboardInterrupt) else 1)
