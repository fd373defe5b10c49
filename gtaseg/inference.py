"""Rebuilding a trained model from a checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from gtaseg.config import Config
from gtaseg.models import build_segmenter
from gtaseg.models.pretrained import EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD, PRETRAINED_LITE, pretrained_kind

NORMALIZATION_KEYS = ("features.0.mean", "features.0.std")


def load_trained(state: dict[str, Any], cfg: Config, name: str = "teacher", path: str | Path = "checkpoint") -> nn.Module:
    """The `name` model (teacher | student | assistant) of a checkpoint, in eval mode.

    Methods without a teacher (sup_only) answer with their student.
    """
    models = state["method"]["models"]
    if name not in models:
        if name == "teacher" and "student" in models:
            name = "student"
        else:
            raise ValueError(f"{path} has no '{name}' model; it has: {', '.join(models)}")
    mcfg = dataclasses.replace(cfg.model, pretrained="none")  # weights come from the checkpoint
    model = build_segmenter(mcfg, state["num_classes"])
    weights = dict(models[name])
    if not any(k in weights for k in NORMALIZATION_KEYS):
        # Checkpoints of gtaseg 0.1.0 lack the normalization buffers: it is the one the
        # pretrained weights set at training time (only the EfficientNet-Lite packages change it).
        if pretrained_kind(cfg.model.pretrained) == PRETRAINED_LITE:
            model.encoder_part.set_normalization(EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD)
        weights.update((k, v) for k, v in model.state_dict().items() if k in NORMALIZATION_KEYS)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).splitlines()[1:3]
        raise ValueError(f"{path}: its '{name}' weights do not fit model.backbone={cfg.model.backbone} "
                         f"(feature_split={cfg.model.feature_split}): {' '.join(l.strip() for l in first)}; "
                         "do not override model.* keys when loading a checkpoint") from None
    return model.eval()
