"""Supervised cross-entropy and the thresholded, re-weighted pseudo-label loss (paper Eq. 1-2, 6-7)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gtaseg.data.transforms import IGNORE


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
        k = num_classes or int(labels.max()) + 1
        # Invalid pixels form an extra class K, whose threshold is never used.
        gamma = class_percentiles(conf.flatten(), labels.masked_fill(~valid, k).flatten(), drop_percent, k + 1)
        gamma = gamma[labels]  # [B,H,W]: each pixel's threshold is its predicted class's
    else:
        gamma = batch_percentile(conf, valid, drop_percent)
    keep = valid & (conf > gamma)
    t = {"laplace": tau, "confidence": 0.0, "none": None}[reweight]
    score = keep.float() if t is None else (conf + t) * keep
    n_kept = keep.sum()
    if weight_norm == "kept":  # Eq. 6: normalise over kept pixels
        denom = score.sum()
    else:  # official code: every valid pixel counts, a dropped one as (0 + tau)
        denom = torch.where(keep, score, torch.full_like(score, t or 0.0))[valid].sum()
    weights = score * (n_kept / denom.clamp(min=1e-12))
    mean_gamma = (gamma * valid).sum() / valid.sum().clamp(min=1) if gamma.dim() else gamma
    return PseudoLabels(labels.masked_fill(~keep, IGNORE), weights, conf, keep, mean_gamma)


def batch_percentile(conf: Tensor, valid: Tensor, percent: float) -> Tensor:
    """The `percent` percentile of the valid confidences: the k-th smallest, k = floor(n * percent / 100),
    -1 when k = 0. Computed on the device (no host sync): invalid pixels sort last."""
    n = valid.sum()
    k = (n.double() * percent / 100).floor().long()
    ordered = torch.cat([conf.masked_fill(~valid, float("inf")).flatten().sort().values, conf.new_full((1,), -1.0)])
    return ordered[torch.where(k > 0, k - 1, torch.full_like(k, conf.numel()))]


def class_percentiles(conf: Tensor, labels: Tensor, percent: float, num_classes: int) -> Tensor:
    """[K] thresholds: the `percent` percentile of the confidences of the pixels predicted as each
    class (the k-th smallest, k = floor(n_k * percent / 100); -1 where k = 0). No host sync."""
    order = conf.argsort()
    order = order[labels[order].argsort(stable=True)]  # grouped by class, ascending confidence within
    counts = class_counts(labels, num_classes)
    starts = counts.cumsum(0) - counts
    k = (counts * (percent / 100)).floor().long()
    sorted_conf = torch.cat([conf[order], conf.new_full((1,), -1.0)])  # the extra entry answers empty inputs
    idx = torch.where(k > 0, starts + k - 1, torch.full_like(k, len(conf)))
    return sorted_conf[idx]


def class_counts(labels: Tensor, num_classes: int, where: Tensor | None = None) -> Tensor:
    """int64 [K]: pixels of each class (only where `where` is true). Unlike torch.bincount it never
    reads the labels' maximum back to the host, so it does not stall the device."""
    ones = torch.ones_like(labels, dtype=torch.long) if where is None else where.long()
    return torch.zeros(num_classes, dtype=torch.long, device=labels.device).scatter_add_(
        0, labels.flatten().clamp(0, num_classes - 1), ones.flatten())


def pseudo_label_ce(logits: Tensor, pl: PseudoLabels) -> Tensor:
    """Eq. 7: mean over kept pixels of w * CE(logits, y_hat); 0 when nothing is kept."""
    ce = F.cross_entropy(logits.float(), pl.labels, ignore_index=IGNORE, reduction="none")
    return (pl.weights * ce).sum() / pl.keep.sum().clamp(min=1)


def weak_to_strong_ce(logits: Tensor, labels: Tensor, conf: Tensor, valid: Tensor, threshold: float) -> Tensor:
    """UniMatch's unlabeled loss: CE on the pixels whose label confidence is >= threshold, summed and
    divided by all valid pixels (not by the confident ones), so a view with few confident pixels
    weighs less; 0 when no pixel is valid."""
    ce = F.cross_entropy(logits.float(), labels, reduction="none")
    return (ce * (valid & (conf >= threshold))).sum() / valid.sum().clamp(min=1)
