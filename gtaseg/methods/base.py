"""What every method shares: a Learner (model + optimizer + AMP scaler) and the Method interface."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor, nn

from gtaseg.config import Config
from gtaseg.distributed import DistInfo, wrap


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

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)

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

    def __init__(self, cfg: Config, models: dict[str, nn.Module], dist: DistInfo):
        self.cfg = cfg
        self.dist = dist
        self.models = models  # every model of the method, unwrapped
        self.learners: dict[str, Learner] = {}
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.amp)
        self._amp_dtype = amp

    def autocast(self):
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.dist.device.type, dtype=self._amp_dtype)

    def set_lr(self, step: int) -> dict[str, float]:
        factor = poly_lr_factor(step, self.cfg.train.iters, self.cfg.train.poly_power)
        for learner in self.learners.values():
            learner.set_lr(factor)
        return {f"lr/{n}": l.lr for n, l in self.learners.items()}

    def train_step(self, x_l: Tensor, y_l: Tensor, x_u: Tensor | None, u: dict, step: int) -> dict[str, float]:
        raise NotImplementedError

    def eval_model(self, name: str) -> nn.Module:
        """The model scored by evaluation; methods without a teacher answer with the student."""
        return self.models.get(name, self.models["student"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "models": {n: m.state_dict() for n, m in self.models.items()},
            "learners": {n: l.state_dict() for n, l in self.learners.items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, m in self.models.items():
            m.load_state_dict(state["models"][n])
        for n, l in self.learners.items():
            l.load_state_dict(state["learners"][n])
        self.load_extra_state(state.get("extra", {}))

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass


def cutmix(*tensors: Tensor) -> tuple[Tensor, ...]:
    """Paste a random box of half the image area from the next image of the batch into each image.

    Every tensor ([B,C,H,W] images, [B,H,W] labels, confidences, masks) is mixed with the same boxes.
    """
    b, h, w = tensors[0].shape[0], *tensors[0].shape[-2:]
    bh, bw = round(h * 0.5**0.5), round(w * 0.5**0.5)
    box = torch.zeros(b, h, w, dtype=torch.bool, device=tensors[0].device)
    tops = torch.randint(0, h - bh + 1, (b,)).tolist()
    lefts = torch.randint(0, w - bw + 1, (b,)).tolist()
    for i, (t, l) in enumerate(zip(tops, lefts)):
        box[i, t : t + bh, l : l + bw] = True
    # roll(-1): image i takes its box from image i+1
    return tuple(torch.where(box[:, None] if x.dim() == 4 else box, x.roll(-1, 0), x) for x in tensors)
