"""Shared by the teacher-based methods: warm-up copy, pseudo labels from the teacher, teacher EMA."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gtaseg.config import Config
from gtaseg.distributed import DistInfo
from gtaseg.ema import EMA, ema_decay
from gtaseg.losses import IGNORE, PseudoLabels, confidence, pseudo_labels, supervised_ce
from gtaseg.methods.base import Method, cutmix
from gtaseg.methods.perturb import strong_photometric


class TeacherMethod(Method):
    """A method whose inference model is a teacher kept as the EMA of the whole student (Eq. 12)."""

    def __init__(self, cfg: Config, models: dict[str, nn.Module], dist: DistInfo, warmup: int):
        super().__init__(cfg, models, dist)
        self.warmup = warmup
        self.teacher, self.student = models["teacher"], models["student"]
        self.teacher.requires_grad_(False)
        self.teacher_ema = EMA([self.teacher], [self.student], cfg.method.teacher_buffers)
        self.teacher_forward = torch.compile(self.teacher) if cfg.train.compile else self.teacher

    def decay(self, step: int, alpha: float | None = None) -> float:
        """The EMA decay at `step`: `alpha` (default: the teacher's method.ema_decay), or the ramp."""
        m = self.cfg.method
        return ema_decay(step - self.warmup, m.ema_decay if alpha is None else alpha, m.ema_schedule, m.ema_decay_max)

    def end_warmup(self) -> None:
        """Real copies of the student's weights (never shared storage). Without warm-up nothing is
        needed: build_models makes every model a deep copy of the student."""
        self.teacher_ema.copy()

    def warmup_step(self, x_l: Tensor, y_l: Tensor, step: int) -> dict[str, float]:
        """Labeled data only. Only the student learns: the other models are overwritten by its copy
        when warm-up ends, so training them would change nothing."""
        student = self.learners["student"]
        with self.autocast():
            loss = supervised_ce(student(x_l), y_l)
        student.step(loss)
        if step == self.warmup - 1:
            self.end_warmup()
        return {"loss/student": loss.item()}

    @torch.no_grad()
    def teach(self, x_l: Tensor, x_u: Tensor, u: dict) -> tuple[Tensor, PseudoLabels, dict[str, Any]]:
        """Eq. 1-2 and 6 on the unlabeled batch. Returns the view that learns from the pseudo labels
        (perturbed and CutMix-ed when enabled), the labels, and their statistics."""
        m = self.cfg.method
        self.teacher.eval()
        with self.autocast():
            logits = self.teacher_forward(x_u)  # the clean view
        conf, labels = confidence(logits)
        num_classes = logits.shape[1]
        # The learner's view: perturbed after the teacher labelled the clean images.
        x_s = strong_photometric(x_u) if m.perturb else x_u
        valid, gt = u["valid"], u["mask"]
        if m.cutmix_prob > 0 and torch.rand(()).item() < m.cutmix_prob:
            if m.perturb:  # two views to mix with the same boxes
                x_s, x_u, labels, conf, valid, gt = cutmix(x_s, x_u, labels, conf, valid, gt)
            else:
                x_u, labels, conf, valid, gt = cutmix(x_u, labels, conf, valid, gt)
                x_s = x_u
        if m.confidence_pass == "mixed":  # official code: confidence from a train-mode pass on the mixed batch
            self.teacher.train()
            with self.autocast():
                logits = self.teacher_forward(torch.cat([x_l, x_u]) if m.joint_forward else x_u)
            conf = confidence(logits[-len(x_u) :])[0]
            self.teacher.eval()
        pl = pseudo_labels(conf, labels, valid, m.drop_percent, m.threshold, m.reweight, m.tau, m.weight_norm,
                           m.drop_scope, num_classes)
        return x_s, pl, pseudo_label_stats(pl, labels, valid, gt, num_classes)


def pseudo_label_stats(pl: PseudoLabels, labels: Tensor, valid: Tensor, gt: Tensor, num_classes: int) -> dict[str, Any]:
    """Scalars of the batch, and per-class counts (`count/...`, summed over a log window by the loop)
    from which pl_class_metrics gives per-class precision and recall of the kept pseudo labels."""
    has_gt = valid & (gt != IGNORE)  # only some unlabeled sets come with ground truth
    kept_gt = has_gt & pl.keep
    correct = labels == gt
    k = num_classes

    def per_class(mask: Tensor, cls: Tensor) -> Tensor:
        return torch.bincount(cls[mask].clamp(0, k - 1), minlength=k)[:k]

    # Counted on the device and read back once: each separate .item() would stall the step.
    sums = torch.stack([x.float() for x in (valid.sum(), pl.keep.sum(), (pl.conf * valid).sum(), pl.threshold,
                                            has_gt.sum(), kept_gt.sum(), (correct & has_gt).sum(),
                                            (correct & kept_gt).sum())])
    counts = torch.stack([per_class(kept_gt, labels), per_class(kept_gt & correct, labels), per_class(has_gt, gt)])
    flat = torch.cat([sums, counts.flatten().float()]).tolist()
    n_valid, n_kept, conf_sum, threshold, n_gt, n_kept_gt, right, right_kept = flat[:8]
    stats: dict[str, Any] = {
        "pl/kept_fraction": n_kept / max(n_valid, 1.0),
        "pl/mean_conf": conf_sum / n_valid if n_valid else 0.0,
        "pl/threshold": threshold,
    }
    if n_gt:
        stats["pl/accuracy_all"] = right / n_gt  # before the drop rule
        kept_pred, kept_right, gt_pixels = (flat[8 + i * k : 8 + (i + 1) * k] for i in range(3))
        stats.update({"count/pl_kept": kept_pred, "count/pl_right": kept_right, "count/pl_gt": gt_pixels})
    if n_kept_gt:
        stats["pl/accuracy"] = right_kept / n_kept_gt  # what A (or S) learns from
    return stats


def pl_class_metrics(counts: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per-class precision (right / kept as that class) and recall (right / ground-truth pixels of that
    class, dropped ones counting as missed) of the kept pseudo labels, in percent; NaN where undefined."""
    if "count/pl_kept" not in counts:
        return {}
    kept, right, gt = (torch.tensor(counts[f"count/pl_{n}"], dtype=torch.float64) for n in ("kept", "right", "gt"))
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    precision = torch.where(kept > 0, right / kept.clamp(min=1) * 100, nan)
    recall = torch.where(gt > 0, right / gt.clamp(min=1) * 100, nan)
    return {"pl/precision": precision.tolist(), "pl/recall": recall.tolist()}
