"""Confusion-matrix segmentation metrics: per-class IoU, mIoU, pixel accuracy."""

from __future__ import annotations

import torch
from torch import Tensor

from gtaseg.losses import IGNORE


class ConfusionMatrix:
    """Rows: ground truth, columns: prediction. Ignore pixels are skipped."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu"):
        self.num_classes = num_classes
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: Tensor, target: Tensor) -> None:
        k = (target != IGNORE) & (target >= 0) & (target < self.num_classes)
        idx = target[k].to(torch.int64) * self.num_classes + pred[k].to(torch.int64)
        self.mat += torch.bincount(idx, minlength=self.num_classes**2).view(self.num_classes, -1).to(self.mat.device)

    def all_reduce(self) -> None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.mat)

    def compute(self) -> dict:
        m = self.mat.double()
        tp = m.diag()
        union = m.sum(0) + m.sum(1) - tp
        present = union > 0  # classes absent from both GT and prediction do not count
        iou = torch.where(present, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
        return {
            "miou": float(iou[present].mean() * 100) if present.any() else 0.0,
            "iou": [float(v * 100) for v in iou],
            "pixel_acc": float(tp.sum() / m.sum().clamp(min=1) * 100),
            "mean_acc": float((tp / m.sum(1).clamp(min=1))[m.sum(1) > 0].mean() * 100) if m.sum() > 0 else 0.0,
        }
