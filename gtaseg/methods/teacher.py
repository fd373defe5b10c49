"""Shared by the teacher-based methods: warm-up copy, pseudo labels from the teacher, teacher EMA."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gtaseg.config import Config
from gtaseg.distributed import DistInfo
from gtaseg.ema import EMA, ema_decay
from gtaseg.losses import IGNORE, PseudoLabels, confidence, pseudo_labels, supervised_ce
from gtaseg.methods.base import Method, cutmix


class TeacherMethod(Method):
    """A method whose inference model is a teacher kept as the EMA of the whole student (Eq. 12)."""

    def __init__(self, cfg: Config, models: dict[str, nn.Module], dist: DistInfo, warmup: int):
        super().__init__(cfg, models, dist)
        self.warmup = warmup
        self.teacher, self.student = models["teacher"], models["student"]
        self.teacher.requires_grad_(False)
        self.teacher_ema = EMA([self.teacher], [self.student], cfg.method.teacher_buffers)
        self.teacher_forward = torch.compile(self.teacher) if cfg.train.compile else self.teacher

    def decay(self, step: int) -> float:
        m = self.cfg.method
        return ema_decay(step - self.warmup, m.ema_decay, m.ema_schedule, m.ema_decay_max)

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
    def teach(self, x_l: Tensor, x_u: Tensor, u: dict) -> tuple[Tensor, PseudoLabels, dict[str, float]]:
        """Eq. 1-2 and 6 on the unlabeled batch; returns the (maybe CutMix-ed) images and labels."""
        m = self.cfg.method
        self.teacher.eval()
        with self.autocast():
            conf, labels = confidence(self.teacher_forward(x_u))
        valid, gt = u["valid"], u["mask"]
        if m.cutmix_prob > 0 and torch.rand(()).item() < m.cutmix_prob:
            x_u, labels, conf, valid, gt = cutmix(x_u, labels, conf, valid, gt)
        if m.confidence_pass == "mixed":  # official code: confidence from a train-mode pass on the mixed batch
            self.teacher.train()
            with self.autocast():
                logits = self.teacher_forward(torch.cat([x_l, x_u]) if m.joint_forward else x_u)
            conf = confidence(logits[-len(x_u) :])[0]
            self.teacher.eval()
        pl = pseudo_labels(conf, labels, valid, m.drop_percent, m.threshold, m.reweight, m.tau, m.weight_norm)
        return x_u, pl, pseudo_label_stats(pl, labels, valid, gt)


def pseudo_label_stats(pl: PseudoLabels, labels: Tensor, valid: Tensor, gt: Tensor) -> dict[str, float]:
    has_gt = valid & (gt != IGNORE)  # only some unlabeled sets come with ground truth
    kept_gt = has_gt & pl.keep
    correct = labels == gt
    # Counted on the device and read back once: each separate .item() would stall the step.
    sums = [valid.sum(), pl.keep.sum(), (pl.conf * valid).sum(), has_gt.sum(), kept_gt.sum(),
            (correct & has_gt).sum(), (correct & kept_gt).sum()]
    n_valid, n_kept, conf_sum, n_gt, n_kept_gt, right, right_kept = torch.stack([x.float() for x in sums]).tolist()
    stats = {
        "pl/kept_fraction": n_kept / max(n_valid, 1.0),
        "pl/mean_conf": conf_sum / n_valid if n_valid else 0.0,
        "pl/threshold": pl.threshold,
    }
    if n_gt:
        stats["pl/accuracy_all"] = right / n_gt  # before the drop rule
    if n_kept_gt:
        stats["pl/accuracy"] = right_kept / n_kept_gt  # what A (or S) learns from
    return stats
