"""Encoder: a timm feature extractor that returns the two maps DeepLabv3+ needs.

The encoder also owns the input normalization (mean/std as buffers), so callers feed raw RGB in
[0, 1], and a checkpoint carries the normalization its weights were trained with.
"""
from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence

import timm
import torch
from torch import nn

from gtaseg.config import OutputStride

from .pretrained import timm_download_error

VALID_OUTPUT_STRIDES: tuple[int, ...] = typing.get_args(OutputStride)
LOW_LEVEL_STRIDE = 4  # DeepLabv3+ fuses the stride-4 map with the ASPP output

# Used only when timm knows no pretrained_cfg for a backbone.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def check_backbone_name(name: str) -> None:
    """Raise a ValueError with close matches if timm does not know `name`."""
    if isinstance(name, str) and timm.is_model(name):
        return
    close = difflib.get_close_matches(str(name), timm.list_models(), n=5, cutoff=0.6)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    raise ValueError(
        f"model.backbone={name!r} is not a timm model.{hint} "
        f"List valid names with timm.list_models('*resnet*') (or another pattern); "
        f"tested choices include resnet101, resnet50, resnet18, tf_efficientnet_lite0/1/2, "
        f"mobilenetv3_large_100."
    )


def check_output_stride(output_stride: int) -> None:
    if output_stride not in VALID_OUTPUT_STRIDES:
        raise ValueError(
            f"model.output_stride={output_stride!r} is not supported; "
            f"valid choices: {list(VALID_OUTPUT_STRIDES)} (16 = paper default, 8 = finer, slower)."
        )


def _select_out_indices(name: str, output_stride: int) -> tuple[int, int]:
    """Pick (stride-4 index, deepest index) from timm's feature_info.

    The probe model is built on the meta device: it allocates no memory and
    runs no init, so we learn the layout without building the network twice.
    """
    with torch.device("meta"):
        probe = timm.create_model(name, features_only=True, output_stride=output_stride, pretrained=False)
    reductions: list[int] = list(probe.feature_info.reduction())
    low = [i for i, r in enumerate(reductions) if r == LOW_LEVEL_STRIDE]
    if not low:
        raise ValueError(
            f"model.backbone={name!r} has no stride-{LOW_LEVEL_STRIDE} feature map "
            f"(feature_info reductions: {reductions}); DeepLabv3+ needs one. "
            f"Use a CNN backbone such as resnet50 or tf_efficientnet_lite0."
        )
    deepest = len(reductions) - 1
    if reductions[deepest] != output_stride:
        raise ValueError(
            f"model.backbone={name!r} gives a deepest stride of {reductions[deepest]} with "
            f"output_stride={output_stride} (feature_info reductions: {reductions}); "
            f"this backbone does not support dilation, choose another one."
        )
    # The last stride-4 map is the most processed one at that resolution.
    return low[-1], deepest


def _pretrained_mean_std(body: nn.Module, name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std of the weights timm would load (or did load) for this backbone."""
    cfg = getattr(body, "pretrained_cfg", None)
    if not cfg:
        pcfg = timm.models.get_pretrained_cfg(name)
        cfg = pcfg.to_dict() if pcfg is not None else {}
    mean = tuple(cfg.get("mean") or IMAGENET_MEAN)
    std = tuple(cfg.get("std") or IMAGENET_STD)
    return mean, std


class Encoder(nn.Module):
    """Normalize raw RGB, run the timm backbone, return (low_level, deepest).

    `body` is the timm features_only module: its state_dict keys are timm's
    own (conv1.weight, layer1.0..., or conv_stem.weight, blocks.0...), which
    is what local weight files are matched against.
    """

    def __init__(self, name: str, output_stride: int = 16, timm_pretrained: bool = False) -> None:
        super().__init__()
        check_backbone_name(name)
        check_output_stride(output_stride)
        self.name = name
        self.output_stride = output_stride
        low_idx, deep_idx = _select_out_indices(name, output_stride)
        try:
            self.body = timm.create_model(
                name,
                features_only=True,
                output_stride=output_stride,
                out_indices=(low_idx, deep_idx),
                pretrained=timm_pretrained,
            )
        except Exception as err:  # hub/network errors come in many types
            if timm_pretrained:
                raise timm_download_error(name, err) from err
            raise
        channels = self.body.feature_info.channels()
        self.low_level_channels: int = channels[0]
        self.out_channels: int = channels[1]
        mean, std = _pretrained_mean_std(self.body, name)
        # Persistent: the normalization belongs to the weights, so it travels with every state dict
        # (a model rebuilt without the pretrained weights would otherwise compute something else).
        self.register_buffer("mean", torch.empty(1, 3, 1, 1))
        self.register_buffer("std", torch.empty(1, 3, 1, 1))
        self.set_normalization(mean, std)

    def set_normalization(self, mean: Sequence[float], std: Sequence[float]) -> None:
        """Set the per-channel mean/std (for inputs in [0, 1]) the weights expect."""
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"normalization needs 3 means and 3 positive stds, got mean={mean}, std={std}")
        with torch.no_grad():
            self.mean.copy_(torch.tensor(mean, dtype=self.mean.dtype).view(1, 3, 1, 1))
            self.std.copy_(torch.tensor(std, dtype=self.std.dtype).view(1, 3, 1, 1))

    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return tuple(self.mean.flatten().tolist()), tuple(self.std.flatten().tolist())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x - self.mean) / self.std
        low, deep = self.body(x)
        return low, deep

    def extra_repr(self) -> str:
        return f"name={self.name!r}, output_stride={self.output_stride}"
