"""Scoring models on an evaluation loader: confusion-matrix metrics, several models in one pass."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from gtaseg.config import Config
from gtaseg.data.loaders import to_input
from gtaseg.inference import center_crop, predict_probs
from gtaseg.metrics import ConfusionMatrix


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, num_classes: int, cfg: Config, device: torch.device,
             autocast=None) -> dict[str, Any]:
    """Confusion-matrix metrics over the loader (all-reduced over ranks)."""
    return evaluate_models({"model": model}, loader, num_classes, cfg, device, autocast)["model"]


@torch.no_grad()
def evaluate_models(models: dict[str, nn.Module], loader: DataLoader, num_classes: int, cfg: Config,
                    device: torch.device, autocast=None) -> dict[str, dict[str, Any]]:
    """Metrics of several models in one pass over the loader: each image is read and moved once.
    Names that map to the same module (sup_only's teacher is its student) are scored once."""
    e = cfg.eval
    unique = {id(m): m for m in models.values()}
    was_training = {k: m.training for k, m in unique.items()}
    cms = {k: ConfusionMatrix(num_classes, device) for k in unique}
    for m in unique.values():
        m.eval()
    for batch in loader:
        x = to_input(batch["image"], device, cfg.train.channels_last)
        y = batch["mask"].to(device)
        if e.mode == "center_crop":
            x, y = center_crop(x, y, e.crop_size)
        for k, m in unique.items():
            with autocast() if autocast else torch.autocast(device.type, enabled=False):
                probs = predict_probs(m, x, num_classes, e.mode, e.window, e.stride, e.flip)
            cms[k].update(probs.argmax(1), y)
    results = {}
    for k, m in unique.items():
        cms[k].all_reduce()
        m.train(was_training[k])
        results[k] = cms[k].compute()
    return {name: results[id(m)] for name, m in models.items()}
