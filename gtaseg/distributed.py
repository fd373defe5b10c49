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


def resolve_device(name: str | torch.device, local_rank: int = 0, key: str = "device") -> torch.device:
    """auto -> cuda when available, else cpu; a missing GPU is an error, not a silent fallback.
    Plain "cuda" is this process's GPU (its local rank), made the current one."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"{key}={name} but no CUDA device is available; use {key}=cpu or auto")
    try:
        device = torch.device("cuda", local_rank) if name == "cuda" else torch.device(name)
    except RuntimeError:
        raise ValueError(f"{key}={name!r} is not valid; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def init(device_name: str = "auto") -> DistInfo:
    """Join the torchrun process group when launched by torchrun, else run as a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local, key="train.device")
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
    if is_initialized():
        dist.barrier()


def is_initialized() -> bool:
    """Whether this process is one rank of a process group."""
    return dist.is_available() and dist.is_initialized()


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
