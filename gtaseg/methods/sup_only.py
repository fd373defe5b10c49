"""SupOnly: the student learns from the labeled images alone (the lower bound of every table)."""

from __future__ import annotations

from torch import Tensor

from gtaseg.data.loaders import LabeledBatch
from gtaseg.methods.base import Learner, Method


class SupOnly(Method):
    needs_unlabeled = False

    def __init__(self, cfg, models, dist, warmup: int = 0, iters: int | None = None):
        super().__init__(cfg, models, dist, 0, iters)  # no warm-up: every step is supervised
        self.learners = {"student": Learner(models["student"], cfg, dist)}

    def train_step(self, labeled: LabeledBatch, unlabeled: None, step: int) -> dict[str, Tensor]:
        return self.supervised_step(labeled)
