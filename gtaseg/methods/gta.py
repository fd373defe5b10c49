"""GTA-Seg (paper Algorithm 1): the teacher makes pseudo labels, the gentle teaching assistant learns
from them and passes only its feature extractor to the student, the student learns only from real
labels, and the teacher is the EMA of the student. Step numbers follow Algorithm 1."""

from __future__ import annotations

import typing

import torch
from torch import Tensor, nn

from gtaseg.config import TransferScope
from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.ema import EMA
from gtaseg.losses import pseudo_label_ce, supervised_ce
from gtaseg.methods.base import Learner
from gtaseg.methods.teacher import TeacherMethod

TRANSFER_SCOPES: tuple[str, ...] = typing.get_args(TransferScope)


def transfer_modules(model: nn.Module, scope: str) -> list[nn.Module]:
    """The modules whose parameters the assistant passes to the student (Eq. 9; Tables 5 and 10)."""
    if scope == "features":  # f as the model defines it (model.feature_split)
        return [model.features]
    if scope == "backbone":
        return [model.backbone]
    if scope == "backbone+decoder":  # official code: everything but the final classifier
        return [model.backbone, model.decoder]
    if scope == "all":  # "Original EMA" of Table 5
        return [model]
    # Table 10: ResNet stem (layer0) and the stages up to `scope`
    children = dict(model.backbone.named_children())
    if "layer1" not in children:
        raise ValueError(f"method.transfer={scope!r} needs a ResNet-style backbone with layer1..layer4; "
                         f"use one of features, backbone, backbone+decoder, all")
    last = ("stem", "layer1", "layer2", "layer3").index(scope)
    out = []
    for name, child in children.items():  # conv1, bn1, act1, maxpool (stage 0), layer1, ...
        if name.startswith("layer") and int(name[5:]) > last:
            break
        out.append(child)
    return out


class GTA(TeacherMethod):
    def __init__(self, cfg, models, dist, warmup: int = 0, iters: int | None = None):
        super().__init__(cfg, models, dist, warmup, iters)
        self.assistant = models["assistant"]
        self.learners = {"student": Learner(self.student, cfg, dist), "assistant": Learner(self.assistant, cfg, dist)}
        scope = cfg.method.transfer
        self.transfer = EMA(transfer_modules(self.student, scope), transfer_modules(self.assistant, scope),
                            cfg.method.transfer_buffers)

    def end_warmup(self) -> None:
        """Teacher and assistant start as real copies of the warmed-up student."""
        super().end_warmup()
        EMA([self.assistant], [self.student]).copy()

    def set_lr(self, step: int) -> dict[str, float]:
        lrs = super().set_lr(step)
        if not self.cfg.method.assistant_poly_lr:  # official code: the assistant keeps its initial LR
            self.learners["assistant"].set_lr(1.0)
            lrs["lr/assistant"] = self.learners["assistant"].lr
        return lrs

    def train_step(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch, step: int) -> dict[str, Tensor]:
        m = self.cfg.method
        assistant, student = self.learners["assistant"], self.learners["student"]
        if step < self.warmup:
            return self.warmup_step(labeled, step)
        x_l, y_l, n_l = labeled.image, labeled.mask, len(labeled.image)

        # 4-5. Teacher pseudo labels (Eq. 1-2, no gradient), re-weighted by confidence (Eq. 6)
        x_u, pl, stats = self.teach(labeled, unlabeled)

        # 6-7. The assistant learns from pseudo labels only: L_u (Eq. 7), SGD step (Eq. 8). With
        # method.assistant_fp the same labels also teach its prediction from dropped-out features
        # (UniMatch's feature perturbation, from the same predictor pass); the two terms weigh 1/2 each.
        with self.autocast():
            x_a = torch.cat([x_l, x_u]) if m.joint_forward else x_u
            outs = assistant(x_a, fp_dropout=m.assistant_fp) if m.assistant_fp else (assistant(x_a),)
            loss_u = m.unsup_weight * sum(pseudo_label_ce(o[-len(x_u):], pl) for o in outs) / len(outs)
        assistant.step(loss_u)

        # 8. Representation knowledge transmission (Eq. 9): student f <- EMA of assistant f
        self.transfer.update(self.decay(step, m.transfer_decay))

        # 9-11. The student learns from labeled data only (Eq. 10-11)
        with self.autocast():
            logits_l = student(torch.cat([x_l, x_u]))[:n_l] if m.joint_forward else student(x_l)
            loss_s = supervised_ce(logits_l, y_l)
        student.step(loss_s)

        # 12. Teacher = EMA of the whole student (Eq. 12)
        self.teacher_ema.update(self.decay(step))
        return {"loss/student": loss_s.detach(), "loss/assistant": loss_u.detach(), **stats}
