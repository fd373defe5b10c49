"""Supervised cross-entropy and the thresholded, re-weighted pseudo-label loss (paper Eq. 1-2, 6-7)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE = 255


def supervised_ce(logits: Tensor, mask: Tensor) -> Tensor:
    """Mean CE over labeled pixels; 0 (not NaN) when every pixel is ignore."""
    ce = F.cross_entropy(logits.float(), mask, ignore_index=IGNORE, reduction="sum")
    return ce / (mask != IGNORE).sum().clamp(min=1)


@dataclass
class PseudoLabels:
    labels: Tensor  # [B,H,W] class index, IGNORE where dropped or invalid
    weights: Tensor  # [B,H,W] per-pixel weight; kept pixels average 1, others 0
    conf: Tensor  # [B,H,W] teacher confidence max_k p
    keep: Tensor  # [B,H,W] bool
    threshold: Tensor  # gamma, averaged over valid pixels when it is per class (a 0-dim tensor)


@torch.no_grad()
def confidence(logits: Tensor) -> tuple[Tensor, Tensor]:
    """Eq. 1: c = max_k softmax(logits), y_hat = argmax_k."""
    return logits.float().softmax(1).max(1)


@torch.no_grad()
def pseudo_labels(
    conf: Tensor,
    labels: Tensor,
    valid: Tensor | None = None,
    drop_percent: float = 20.0,
    threshold: float = -1.0,
    reweight: str = "laplace",
    tau: float = 1.0,
    weight_norm: str = "kept",
    drop_scope: str = "batch",
    num_classes: int = 0,
) -> PseudoLabels:
    """Confidence threshold (Eq. 2) and re-weighting (Eq. 6) of the teacher's predictions.

    gamma is a fixed `threshold` when >= 0, else the `drop_percent` percentile of this batch's
    valid confidences (`drop_scope="batch"`, the paper) or of the confidences of each predicted
    class (`"class"`: thin classes, whose confidence is low, are not dropped first). Pixels at or
    below gamma are dropped (ties may drop a little more).
    """
    valid = torch.ones_like(conf, dtype=torch.bool) if valid is None else valid
    if threshold >= 0:
        gamma = conf.new_tensor(float(threshold))
    elif drop_scope == "class":
        gamma = class_percentiles(conf[valid], labels[valid], drop_percent, num_classes or int(labels.max()) + 1)
        gamma = gamma[labels]  # [B,H,W]: each pixel's threshold is its predicted class's
    else:
        pool = conf[valid]
        k = int(pool.numel() * drop_percent / 100)
        gamma = pool.kthvalue(k).values if k > 0 else conf.new_tensor(-1.0)
    keep = valid & (conf > gamma)
    t = {"laplace": tau, "confidence": 0.0, "none": None}[reweight]
    score = keep.float() if t is None else (conf + t) * keep
    n_kept = keep.sum()
    if weight_norm == "kept":  # Eq. 6: normalise over kept pixels
        denom = score.sum()
    else:  # official code: every valid pixel counts, a dropped one as (0 + tau)
        denom = torch.where(keep, score, torch.full_like(score, t or 0.0))[valid].sum()
    weights = score * (n_kept / denom.clamp(min=1e-12))
    mean_gamma = gamma[valid].mean() if gamma.dim() else gamma
    return PseudoLabels(labels.masked_fill(~keep, IGNORE), weights, conf, keep, mean_gamma)


def class_percentiles(conf: Tensor, labels: Tensor, percent: float, num_classes: int) -> Tensor:
    """[K] thresholds: the `percent` percentile of the confidences of the pixels predicted as each
    class (the k-th smallest, k = floor(n_k * percent / 100); -1 where k = 0). No host sync."""
    order = conf.argsort()
    order = order[labels[order].argsort(stable=True)]  # grouped by class, ascending confidence within
    counts = torch.bincount(labels, minlength=num_classes)
    starts = counts.cumsum(0) - counts
    k = (counts * (percent / 100)).floor().long()
    sorted_conf = torch.cat([conf[order], conf.new_full((1,), -1.0)])  # the extra entry answers empty inputs
    idx = torch.where(k > 0, starts + k - 1, torch.full_like(k, len(conf)))
    return sorted_conf[idx]


def pseudo_label_ce(logits: Tensor, pl: PseudoLabels) -> Tensor:
    """Eq. 7: mean over kept pixels of w * CE(logits, y_hat); 0 when nothing is kept."""
    ce = F.cross_entropy(logits.float(), pl.labels, ignore_index=IGNORE, reduction="none")
    return (pl.weights * ce).sum() / pl.keep.sum().clamp(min=1)
