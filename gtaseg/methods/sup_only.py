"""SupOnly: the student learns from the labeled images alone (the lower bound of every table)."""

from __future__ import annotations

from torch import Tensor

from gtaseg.losses import supervised_ce
from gtaseg.methods.base import Learner, Method


class SupOnly(Method):
    needs_unlabeled = False

    def __init__(self, cfg, models, dist, warmup: int = 0):
        super().__init__(cfg, models, dist)
        self.learners = {"student": Learner(models["student"], cfg, dist)}

    def train_step(self, x_l: Tensor, y_l: Tensor, x_u, u, step: int) -> dict[str, float]:
        student = self.learners["student"]
        with self.autocast():
            loss = supervised_ce(student(x_l), y_l)
        student.step(loss)
        return {"loss/student": loss.item()}
