"""Inference: class probabilities of a model (whole image, sliding window, flip), and rebuilding a
trained model from a checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from gtaseg.config import Config
from gtaseg.data.transforms import IGNORE
from gtaseg.models import build_segmenter
from gtaseg.models.pretrained import EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD, PRETRAINED_LITE, pretrained_kind
from gtaseg.roles import stand_in


def sliding_window(model: nn.Module, x: Tensor, num_classes: int, window: int, stride: int) -> Tensor:
    """Average softmax over windows covering the image; the last window of a row/column ends at the edge.

    A window larger than the image is clipped to it, so a window that covers the image is exactly
    whole-image inference.
    """
    b, _, h, w = x.shape
    wh, ww = min(window, h), min(window, w)
    probs = x.new_zeros(b, num_classes, h, w)
    count = x.new_zeros(1, 1, h, w)

    def starts(size: int, win: int) -> list[int]:
        return sorted({*range(0, size - win, stride), size - win})

    for top in starts(h, wh):
        for left in starts(w, ww):
            crop = x[:, :, top : top + wh, left : left + ww]
            probs[:, :, top : top + wh, left : left + ww] += model(crop).float().softmax(1)
            count[:, :, top : top + wh, left : left + ww] += 1
    return probs / count


def predict_probs(model: nn.Module, x: Tensor, num_classes: int, mode: str = "whole", window: int = 512,
                  stride: int = 341, flip: bool = False) -> Tensor:
    """Class probabilities [B,K,H,W] at the input size, optionally averaged with the mirrored image."""
    def once(inp: Tensor) -> Tensor:
        if mode == "sliding":
            return sliding_window(model, inp, num_classes, window, stride)
        return model(inp).float().softmax(1)

    probs = once(x)
    if flip:
        probs = (probs + once(x.flip(-1)).flip(-1)) / 2
    return probs


def center_crop(x: Tensor, y: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Crop (padding first if smaller: image 0, mask ignore) the central size x size region."""
    h, w = y.shape[-2:]
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        y = F.pad(y, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=IGNORE)
        h, w = y.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size], y[..., top : top + size, left : left + size]


NORMALIZATION_KEYS = ("features.0.mean", "features.0.std")


def load_trained(
    state: dict[str, Any], cfg: Config, name: str = "teacher", path: str | Path = "checkpoint"
) -> nn.Module:
    """The `name` model (teacher | student | assistant, gtaseg.roles.stand_in) of a checkpoint, in eval mode."""
    models = state["method"]["models"]
    try:
        name = stand_in(name, models)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    mcfg = dataclasses.replace(cfg.model, pretrained="none")  # weights come from the checkpoint
    model = build_segmenter(mcfg, state["num_classes"])
    weights = dict(models[name])
    if not any(k in weights for k in NORMALIZATION_KEYS):
        # Checkpoints of gtaseg 0.1.0 lack the normalization buffers: it is the one the
        # pretrained weights set at training time (only the EfficientNet-Lite packages change it).
        if pretrained_kind(cfg.model.pretrained) == PRETRAINED_LITE:
            model.encoder.set_normalization(EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD)
        weights.update((k, v) for k, v in model.state_dict().items() if k in NORMALIZATION_KEYS)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).splitlines()[1:3]
        raise ValueError(f"{path}: its '{name}' weights do not fit model.backbone={cfg.model.backbone} "
                         f"(feature_split={cfg.model.feature_split}): {' '.join(line.strip() for line in first)}; "
                         "do not override model.* keys when loading a checkpoint") from None
    return model.eval()
