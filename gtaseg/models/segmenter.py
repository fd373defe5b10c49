"""Segmenter = feature extractor f (`features`) + mask predictor g (`predictor`).

GTA-Seg moves f alone from the assistant into the student (Eq. 9), so the two halves are the
model's only registered children and forward is exactly `upsample(predictor(features(x)))`.
"""
from __future__ import annotations

import typing
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gtaseg.config import FeatureSplit, ModelConfig

from .backbone import Encoder
from .deeplab import Classifier, DeepLabV3PlusDecoder
from .pretrained import (
    PRETRAINED_LITE,
    PRETRAINED_TIMM,
    apply_pretrained,
    check_lite_backbone,
    pretrained_kind,
)

FEATURE_SPLITS: tuple[str, ...] = typing.get_args(FeatureSplit)
# backbone (paper default): f = encoder, g = ASPP + decoder + classifier;
# backbone+decoder: f = encoder + ASPP + decoder, g = classifier.
SPLIT_BACKBONE, SPLIT_BACKBONE_DECODER = FEATURE_SPLITS


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
    def encoder(self) -> Encoder:
        """Input normalization + the backbone + the choice of its two feature maps."""
        return self.features[0]

    @property
    def backbone(self) -> nn.Module:
        """The timm network inside the encoder (timm's state_dict keys); the encoder's parameters."""
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
        return self.encoder.normalization

    def train(self, mode: bool = True) -> Segmenter:
        """With freeze_bn, BatchNorm layers always use their running statistics (and keep them)."""
        super().train(mode)
        if self.freeze_bn:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor, fp_dropout: float = 0.0) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits at the input size. With fp_dropout > 0 (UniMatch's feature perturbation), also the
        logits of the same features with channel dropout, from one predictor pass over both."""
        feats = self.features(x)
        if not fp_dropout:
            return self._upsample(self.predictor(feats), x)
        parts = feats if isinstance(feats, tuple) else (feats,)
        both = tuple(torch.cat([f, F.dropout2d(f, fp_dropout, training=True)]) for f in parts)
        logits, logits_fp = self.predictor(both if isinstance(feats, tuple) else both[0]).chunk(2)
        return self._upsample(logits, x), self._upsample(logits_fp, x)

    @staticmethod
    def _upsample(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def param_groups(
        self, base_lr: float, head_lr_mult: float = 10.0, weight_decay: float = 0.0
    ) -> list[dict[str, Any]]:
        """Two SGD groups: encoder at base_lr, everything else at base_lr * head_lr_mult.

        Grouping is by module identity (self.backbone), never by parameter names.
        Each group carries 'lr_mult' so a scheduler can set lr = base * lr_mult.
        """
        encoder_ids = {id(p) for p in self.backbone.parameters()}
        encoder_params = list(self.backbone.parameters())
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


def build_segmenter(cfg: ModelConfig, num_classes: int) -> Segmenter:
    """A DeepLabv3+ Segmenter from the (validated) `model` config section."""
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r} must be a positive integer (e.g. 21 for VOC, 19 for Cityscapes)")
    kind = pretrained_kind(cfg.pretrained)
    if kind == PRETRAINED_LITE:  # before building (and possibly downloading) a network
        check_lite_backbone(cfg.backbone)
    encoder = Encoder(cfg.backbone, cfg.output_stride, timm_pretrained=(kind == PRETRAINED_TIMM))
    apply_pretrained(encoder, cfg.pretrained)
    decoder = DeepLabV3PlusDecoder(
        low_level_in=encoder.low_level_channels,
        high_level_in=encoder.out_channels,
        output_stride=cfg.output_stride,
        aspp_channels=cfg.aspp_channels,
        decoder_channels=cfg.decoder_channels,
        low_level_channels=cfg.low_level_channels,
        dropout=cfg.dropout,
    )
    classifier = Classifier(decoder.out_channels, num_classes, cfg.dropout)
    return Segmenter(encoder, decoder, classifier, cfg.feature_split, cfg.freeze_bn)
