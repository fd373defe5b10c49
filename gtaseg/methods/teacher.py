"""Shared by the teacher-based methods: warm-up copy, pseudo labels from the teacher, teacher EMA."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gtaseg.config import Config
from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.data.transforms import IGNORE
from gtaseg.distributed import DistInfo
from gtaseg.ema import EMA, ema_decay
from gtaseg.losses import PseudoLabels, class_counts, confidence, pseudo_labels
from gtaseg.methods.base import Method, cutmix
from gtaseg.methods.perturb import strong_photometric


class TeacherMethod(Method):
    """A method whose inference model is a teacher kept as the EMA of the whole student (Eq. 12)."""

    def __init__(self, cfg: Config, models: dict[str, nn.Module], dist: DistInfo, warmup: int = 0,
                 iters: int | None = None):
        super().__init__(cfg, models, dist, warmup, iters)
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

    def warmup_step(self, labeled: LabeledBatch, step: int) -> dict[str, Tensor]:
        """Labeled data only. Only the student learns: the other models are overwritten by its copy
        when warm-up ends, so training them would change nothing."""
        logs = self.supervised_step(labeled)
        if step == self.warmup - 1:
            self.end_warmup()
        return logs

    @torch.no_grad()
    def teach(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch) -> tuple[Tensor, PseudoLabels, dict[str, Tensor]]:
        """Eq. 1-2 and 6 on the unlabeled batch. Returns the view that learns from the pseudo labels
        (perturbed and CutMix-ed when enabled), the labels, and their statistics."""
        m = self.cfg.method
        x_u = unlabeled.image
        self.teacher.eval()
        with self.autocast():
            logits = self.teacher_forward(x_u)  # the clean view
        conf, labels = confidence(logits)
        num_classes = logits.shape[1]
        # The learner's view: perturbed after the teacher labelled the clean images.
        x_s = strong_photometric(x_u) if m.perturb else x_u
        valid, gt = unlabeled.valid, unlabeled.mask
        if m.cutmix_prob > 0 and torch.rand(()).item() < m.cutmix_prob:  # a CPU draw: no device sync
            if m.perturb:  # two views to mix with the same boxes
                x_s, x_u, labels, conf, valid, gt = cutmix(x_s, x_u, labels, conf, valid, gt)
            else:
                x_u, labels, conf, valid, gt = cutmix(x_u, labels, conf, valid, gt)
                x_s = x_u
        if m.confidence_pass == "mixed":  # official code: confidence from a train-mode pass on the mixed batch
            self.teacher.train()
            with self.autocast():
                logits = self.teacher_forward(torch.cat([labeled.image, x_u]) if m.joint_forward else x_u)
            conf = confidence(logits[-len(x_u) :])[0]
            self.teacher.eval()
        pl = pseudo_labels(conf, labels, valid, m.drop_percent, m.threshold, m.reweight, m.tau, m.weight_norm,
                           m.drop_scope, num_classes)
        return x_s, pl, pseudo_label_stats(pl, labels, valid, gt, num_classes)


def pseudo_label_stats(
    pl: PseudoLabels, labels: Tensor, valid: Tensor, gt: Tensor, num_classes: int
) -> dict[str, Tensor]:
    """Device tensors: scalars of the batch (NaN where undefined: no ground truth to compare with), and
    per-class counts (`count/...`, summed over a log window by the loop) from which pl_class_metrics
    gives per-class precision and recall of the kept pseudo labels."""
    has_gt = valid & (gt != IGNORE)  # only some unlabeled sets come with ground truth
    kept_gt = has_gt & pl.keep
    correct = labels == gt
    n_valid, n_kept, n_gt, n_kept_gt = (x.sum().float() for x in (valid, pl.keep, has_gt, kept_gt))
    return {
        "pl/kept_fraction": n_kept / n_valid.clamp(min=1),
        "pl/mean_conf": (pl.conf * valid).sum() / n_valid.clamp(min=1),
        "pl/threshold": pl.threshold.float(),
        "pl/accuracy_all": (correct & has_gt).sum() / n_gt,  # before the drop rule; 0/0 = NaN without ground truth
        "pl/accuracy": (correct & kept_gt).sum() / n_kept_gt,  # what A (or S) learns from
        "count/pl_kept": class_counts(labels, num_classes, kept_gt),
        "count/pl_right": class_counts(labels, num_classes, kept_gt & correct),
        "count/pl_gt": class_counts(gt, num_classes, has_gt),
    }


def pl_class_metrics(counts: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per-class precision (right / kept as that class) and recall (right / ground-truth pixels of that
    class, dropped ones counting as missed) of the kept pseudo labels, in percent; NaN where undefined."""
    if not sum(counts.get("count/pl_gt", [])):  # no ground truth for the unlabeled images
        return {}
    kept, right, gt = (torch.tensor(counts[f"count/pl_{n}"], dtype=torch.float64) for n in ("kept", "right", "gt"))
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    precision = torch.where(kept > 0, right / kept.clamp(min=1) * 100, nan)
    recall = torch.where(gt > 0, right / gt.clamp(min=1) * 100, nan)
    return {"pl/precision": precision.tolist(), "pl/recall": recall.tolist()}
