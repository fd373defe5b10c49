"""What every method shares: a Learner (model + optimizer + AMP scaler) and the Method interface.

A train step receives typed device batches and returns its logs as device tensors: the loop reads
them back once per log window, so no step waits on the host."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor, nn

from gtaseg.config import Config
from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.distributed import DistInfo, wrap
from gtaseg.losses import supervised_ce
from gtaseg.roles import stand_in


def poly_lr_factor(step: int, total: int, power: float) -> float:
    """Poly schedule (1 - t/T)^power as a pure function of the iteration."""
    return (1.0 - min(step, total) / total) ** power


class Learner:
    """A model that learns: its (optionally DDP-wrapped) forward, SGD optimizer and gradient scaler."""

    def __init__(self, model: nn.Module, cfg: Config, dist: DistInfo):
        t = cfg.train
        self.model = model  # unwrapped: EMA and checkpoints use this one
        self.forward = wrap(model, dist)
        if t.compile:
            self.forward = torch.compile(self.forward)
        self.opt = torch.optim.SGD(
            model.param_groups(t.lr, t.head_lr_mult, t.weight_decay), lr=t.lr, momentum=t.momentum
        )
        self.base_lr = t.lr
        self.scaler = torch.amp.GradScaler(dist.device.type, enabled=t.amp == "fp16")

    def __call__(self, x: Tensor, **kwargs) -> Tensor:
        return self.forward(x, **kwargs)

    def step(self, loss: Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()

    def set_lr(self, factor: float) -> None:
        for g in self.opt.param_groups:
            g["lr"] = self.base_lr * g["lr_mult"] * factor

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def state_dict(self) -> dict:
        return {"optimizer": self.opt.state_dict(), "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])


class Method:
    """A training method: named models, the learners among them, and one train_step."""

    needs_unlabeled = True

    def __init__(self, cfg: Config, models: dict[str, nn.Module], dist: DistInfo, warmup: int = 0,
                 iters: int | None = None):
        self.cfg = cfg
        self.dist = dist
        self.warmup = warmup  # labeled-only iterations before pseudo labels (resolved by the loop)
        self.iters = cfg.train.iters if iters is None else iters  # the LR schedule's length
        self.models = models  # every model of the method, unwrapped
        self.learners: dict[str, Learner] = {}
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.amp)
        self._amp_dtype = amp

    def autocast(self):
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.dist.device.type, dtype=self._amp_dtype)

    def set_lr(self, step: int) -> dict[str, float]:
        factor = poly_lr_factor(step, self.iters, self.cfg.train.poly_power)
        for learner in self.learners.values():
            learner.set_lr(factor)
        return {f"lr/{n}": learner.lr for n, learner in self.learners.items()}

    def train_step(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch | None, step: int) -> dict[str, Tensor]:
        """One iteration; returns its logs (`loss/...`, `pl/...`, per-class `count/...`) as device tensors."""
        raise NotImplementedError

    def supervised_step(self, labeled: LabeledBatch) -> dict[str, Tensor]:
        """The student learns from the labeled batch alone: all of SupOnly, and every warm-up step."""
        student = self.learners["student"]
        with self.autocast():
            loss = supervised_ce(student(labeled.image), labeled.mask)
        student.step(loss)
        return {"loss/student": loss.detach()}

    def eval_model(self, name: str) -> nn.Module:
        """The model scored by evaluation under the role `name` (gtaseg.roles.stand_in)."""
        return self.models[stand_in(name, self.models, every_role=True)]

    def state_dict(self) -> dict[str, Any]:
        return {
            "models": {n: m.state_dict() for n, m in self.models.items()},
            "learners": {n: learner.state_dict() for n, learner in self.learners.items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, m in self.models.items():
            m.load_state_dict(state["models"][n])
        for n, learner in self.learners.items():
            learner.load_state_dict(state["learners"][n])
        self.load_extra_state(state.get("extra", {}))

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass


def cutmix(*tensors: Tensor, per_image_p: float | None = None) -> tuple[Tensor, ...]:
    """Paste a random box of half the image area from the next image of the batch into each image
    (only into the images that win a coin of probability `per_image_p`, when given).

    Every tensor ([B,C,H,W] images, [B,H,W] labels, confidences, masks) is mixed with the same boxes.
    """
    b, h, w = tensors[0].shape[0], *tensors[0].shape[-2:]
    bh, bw = round(h * 0.5**0.5), round(w * 0.5**0.5)
    box = torch.zeros(b, h, w, dtype=torch.bool, device=tensors[0].device)
    tops = torch.randint(0, h - bh + 1, (b,)).tolist()
    lefts = torch.randint(0, w - bw + 1, (b,)).tolist()
    for i, (top, left) in enumerate(zip(tops, lefts)):
        box[i, top : top + bh, left : left + bw] = True
    if per_image_p is not None:  # a CPU draw: no device sync
        box &= (torch.rand(b) < per_image_p).to(box.device).view(b, 1, 1)
    # roll(-1): image i takes its box from image i+1
    return tuple(torch.where(box[:, None] if x.dim() == 4 else box, x.roll(-1, 0), x) for x in tensors)
