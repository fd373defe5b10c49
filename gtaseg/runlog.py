"""What a run writes as it trains: metrics.jsonl and TensorBoard scalars, and the log window that
keeps each iteration's values on the device until they are read back, once per log step."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gtaseg import distributed
from gtaseg.methods.teacher import pl_class_metrics


class Window:
    """The logs of the iterations since the last log step, as device tensors.

    A step only appends: reading values back (`summary`, `first_nonfinite`) is the loop's one sync
    point, taken at log, evaluation and save steps.
    """

    def __init__(self, start: int):
        self.start = start  # iteration of the first row
        self.rows: list[dict[str, Tensor]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, logs: dict[str, Tensor | float]) -> None:
        self.rows.append({k: torch.as_tensor(v) for k, v in logs.items()})

    def first_nonfinite(self) -> tuple[int, dict[str, float]] | None:
        """(iteration, its non-finite losses) of the first iteration whose loss is NaN or infinite."""
        losses = [(i, k, v) for i, row in enumerate(self.rows) for k, v in row.items() if k.startswith("loss/")]
        if not losses:
            return None
        finite = torch.stack([torch.isfinite(v).all().to(losses[0][2].device) for _, _, v in losses]).tolist()
        bad = [(i, k, v) for (i, k, v), ok in zip(losses, finite) if not ok]
        if not bad:
            return None
        first = bad[0][0]
        return self.start + first, {k: float(v) for i, k, v in bad if i == first}

    def summary(self, device: torch.device) -> dict[str, Any]:
        """Mean of each scalar over the iterations where it is defined (NaN: undefined there, e.g. pseudo-
        label accuracy without ground truth), then over ranks; per-class `count/` vectors are summed over
        the window (then averaged over ranks), and turned into per-class pseudo-label precision and recall."""
        keys = sorted({k for row in self.rows for k in row})
        parts, sizes = [], []
        for k in keys:
            v = torch.stack([row[k].to(device) for row in self.rows if k in row]).double()
            parts.append(v.sum(0) if k.startswith("count/") else v.nanmean().reshape(1))
            sizes.append(parts[-1].numel())
        flat = torch.cat(parts)
        have = torch.isfinite(flat)
        both = torch.stack([torch.where(have, flat, torch.zeros_like(flat)), have.double()])
        if distributed.is_initialized():  # every rank logs the same keys: the loop and the methods are shared
            torch.distributed.all_reduce(both)
        sums, counts = both.tolist()
        values = [s / n if n else math.nan for s, n in zip(sums, counts)]
        scalars, class_counts, i = {}, {}, 0
        for k, size in zip(keys, sizes):
            if k.startswith("count/"):
                class_counts[k] = values[i : i + size]
            elif not math.isnan(values[i]):
                scalars[k] = values[i]
            i += size
        return {**scalars, **pl_class_metrics(class_counts)}


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
