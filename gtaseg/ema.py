"""In-place exponential moving averages between two models of the same architecture.

Tensor lists are resolved once from module attributes (never parameter names), then each update
is a single multi-tensor lerp under no_grad. Models never share storage: targets are updated in place.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

BUFFER_POLICIES = ("copy", "average", "own")


class EMA:
    """target <- decay * target + (1 - decay) * source, for the chosen modules of two models."""

    def __init__(self, target: Iterable[nn.Module], source: Iterable[nn.Module], buffers: str = "copy"):
        if buffers not in BUFFER_POLICIES:
            raise ValueError(f"EMA buffer policy {buffers!r} is not valid; choose one of {', '.join(BUFFER_POLICIES)}")
        target, source = list(target), list(source)
        self.t_params = [p for m in target for p in m.parameters()]
        self.s_params = [p for m in source for p in m.parameters()]
        t_bufs = [b for m in target for b in m.buffers()]
        s_bufs = [b for m in source for b in m.buffers()]
        if [p.shape for p in self.t_params] != [p.shape for p in self.s_params] or len(t_bufs) != len(s_bufs):
            raise ValueError("EMA needs two models of the same architecture")
        self.buffers = buffers
        float_pairs = [(t, s) for t, s in zip(t_bufs, s_bufs) if t.is_floating_point()]
        self.t_fbufs = [t for t, _ in float_pairs]
        self.s_fbufs = [s for _, s in float_pairs]
        self.int_pairs = [(t, s) for t, s in zip(t_bufs, s_bufs) if not t.is_floating_point()]

    @torch.no_grad()
    def update(self, decay: float) -> None:
        if self.t_params:
            torch._foreach_lerp_(self.t_params, self.s_params, 1.0 - decay)
        if self.buffers == "own":
            return
        if self.t_fbufs:
            if self.buffers == "average":
                torch._foreach_lerp_(self.t_fbufs, self.s_fbufs, 1.0 - decay)
            else:
                torch._foreach_copy_(self.t_fbufs, self.s_fbufs)
        for t, s in self.int_pairs:  # e.g. BatchNorm's num_batches_tracked
            t.copy_(s)

    @torch.no_grad()
    def copy(self) -> None:
        """target <- source exactly (parameters and buffers), e.g. at the end of warm-up."""
        torch._foreach_copy_(self.t_params, self.s_params)
        torch._foreach_copy_(self.t_fbufs, self.s_fbufs)
        for t, s in self.int_pairs:
            t.copy_(s)


def ema_decay(step_after_warmup: int, decay: float, schedule: str, decay_max: float) -> float:
    """Constant alpha, or the official ramp min(1 - 1/(t+1), max) with t counted from warm-up's end."""
    if schedule == "constant":
        return decay
    return min(1.0 - 1.0 / (step_after_warmup + 1), decay_max)


def shares_storage(a: nn.Module, b: nn.Module) -> list[str]:
    """Names of tensors of `a` whose storage is also used by a tensor of `b` (should be empty)."""
    ptrs = {t.untyped_storage().data_ptr() for t in list(b.parameters()) + list(b.buffers()) if t.numel()}
    named = list(a.named_parameters()) + list(a.named_buffers())
    return [n for n, t in named if t.numel() and t.untyped_storage().data_ptr() in ptrs]
