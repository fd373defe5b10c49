"""Mean Teacher with pseudo labels (paper Eq. 3-5): the student learns from labeled and pseudo-labeled
images together, and the teacher is the EMA of the student."""

from __future__ import annotations

import torch
from torch import Tensor

from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.losses import pseudo_label_ce, supervised_ce
from gtaseg.methods.base import Learner
from gtaseg.methods.teacher import TeacherMethod


class MeanTeacher(TeacherMethod):
    def __init__(self, cfg, models, dist, warmup: int = 0, iters: int | None = None):
        super().__init__(cfg, models, dist, warmup, iters)
        self.learners = {"student": Learner(self.student, cfg, dist)}

    def train_step(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch, step: int) -> dict[str, Tensor]:
        student = self.learners["student"]
        if step < self.warmup:
            return self.warmup_step(labeled, step)
        x_l, y_l = labeled.image, labeled.mask
        # Eq. 3: pseudo labels from the teacher (no gradient)
        x_u, pl, stats = self.teach(labeled, unlabeled)
        # Eq. 4: loss = L_s + mu * L_u; one forward of labeled + unlabeled only with joint_forward,
        # so that by default each batch is normalised by its own BatchNorm statistics, as gta's learners are
        with self.autocast():
            if self.cfg.method.joint_forward:
                logits_l, logits_u = student(torch.cat([x_l, x_u])).split([len(x_l), len(x_u)])
            else:
                logits_l, logits_u = student(x_l), student(x_u)
            loss_s = supervised_ce(logits_l, y_l)
            loss_u = pseudo_label_ce(logits_u, pl)
            loss = loss_s + self.cfg.method.unsup_weight * loss_u
        student.step(loss)
        # Eq. 5: teacher = EMA of the student
        self.teacher_ema.update(self.decay(step))
        return {"loss/student": loss_s.detach(), "loss/unsup": loss_u.detach(), **stats}
