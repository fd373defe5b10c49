"""Python API for trained models: `load_model(checkpoint).predict(image)`.

    from gtaseg import load_model
    model = load_model("runs/demo/checkpoints/best.pt")
    mask = model.predict("photo.jpg")            # HxW class indices at the image's resolution
    model.colorize(mask).save("mask.png")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from gtaseg.config import Config, EvalConfig
from gtaseg.distributed import resolve_device
from gtaseg.roles import ROLES, stand_in

if TYPE_CHECKING:
    from gtaseg.suggest import SuggestRow

ImageLike = Image.Image | np.ndarray | Tensor | str | Path


def as_tensor(image: ImageLike, what: str = "image") -> Tensor:
    """Any supported image -> float [3, H, W] RGB in [0, 1] (CPU).

    Accepts a PIL image, a NumPy HxWx3 (or HxW grey, or HxWx4) uint8 array or float array in [0, 1],
    a torch tensor [3, H, W] (uint8, or float in [0, 1]), or a path to an image file.
    """
    if isinstance(image, (str, Path)):
        from gtaseg.data.datasets import read_image

        if not Path(image).is_file():
            raise FileNotFoundError(f"image {image} does not exist")
        return torch.from_numpy(read_image(str(image))).permute(2, 0, 1).float().div_(255)
    if isinstance(image, Image.Image):
        return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float().div_(255)
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"{what}: NumPy images must be HxWx3 RGB (or HxW grey), got shape {image.shape}")
        t = torch.from_numpy(np.ascontiguousarray(arr[..., :3])).permute(2, 0, 1)
    elif isinstance(image, Tensor):
        t = image.detach().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] != 3:
            raise ValueError(f"{what}: tensors must be [3, H, W] RGB (channels first), got shape {tuple(image.shape)}")
    else:
        raise TypeError(f"{what}: unsupported type {type(image).__name__}; pass a PIL image, a NumPy HxWx3 array, "
                        "a [3, H, W] tensor or a file path")
    if t.dtype == torch.uint8:
        return t.float().div_(255)
    if not t.is_floating_point():
        raise ValueError(f"{what}: integer images must be uint8 (0..255), got {t.dtype}")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{what}: float images must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                         "divide 0..255 images by 255 or pass them as uint8")
    return t.float().clamp(0, 1)


@dataclass
class SegmentationModel:
    """A trained segmenter with its classes and colours; inference follows its eval settings."""

    module: nn.Module
    num_classes: int
    class_names: list[str]
    palette: list[tuple[int, int, int]]
    eval_cfg: EvalConfig
    device: torch.device
    name: str = "teacher"
    checkpoint: str = ""
    step: int = 0
    config: Config | None = None

    @torch.no_grad()
    def predict_proba_batch(self, images: Tensor) -> Tensor:
        """float [B, 3, H, W] in [0, 1] -> class probabilities [B, K, H, W] on the model's device.

        center_crop (an evaluation protocol) would cut the image, so predictions use the whole image.
        """
        from gtaseg.inference import predict_probs

        e = self.eval_cfg
        mode = "sliding" if e.mode == "sliding" else "whole"
        x = images.to(self.device, non_blocking=True).float()
        return predict_probs(self.module, x, self.num_classes, mode, e.window, e.stride, e.flip)

    def predict_proba(self, image: ImageLike) -> np.ndarray:
        """Class probabilities [K, H, W] (float32, summing to 1 over K) at the input resolution."""
        return self.predict_proba_batch(as_tensor(image)[None])[0].cpu().numpy()

    def predict(self, image: ImageLike) -> np.ndarray:
        """Class-index mask [H, W] at the input resolution (uint8; int64 beyond 256 classes)."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[ImageLike], batch_size: int = 8) -> list[np.ndarray]:
        """Masks for several images; images of equal size share a forward pass (up to batch_size)."""
        tensors = [as_tensor(im, f"image {i}") for i, im in enumerate(images)]
        out: list[np.ndarray | None] = [None] * len(tensors)
        for group in size_groups([tuple(t.shape[-2:]) for t in tensors], batch_size):
            probs = self.predict_proba_batch(torch.stack([tensors[i] for i in group]))
            for i, mask in zip(group, probs.argmax(1).cpu().numpy()):
                out[i] = mask.astype(self.mask_dtype)
        return out  # type: ignore[return-value]

    @property
    def mask_dtype(self) -> type:
        return np.uint8 if self.num_classes <= 256 else np.int64

    def colorize(self, mask: np.ndarray) -> Image.Image:
        """Class-index mask -> RGB image in the dataset's colours."""
        from gtaseg.visualize import colorize

        return colorize(mask, self.palette)

    def overlay(self, image: ImageLike, mask: np.ndarray, alpha: float = 0.5) -> Image.Image:
        """The colour mask blended on the image (alpha: weight of the mask)."""
        from gtaseg.visualize import overlay

        rgb = (as_tensor(image).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        return overlay(rgb, mask, self.palette, alpha)

    def __repr__(self) -> str:
        return (f"SegmentationModel({self.name} of {self.checkpoint} at iteration {self.step}, "
                f"{self.num_classes} classes, device {self.device})")


def size_groups(sizes: Sequence[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Indices grouped by equal (H, W), each group cut into chunks of at most batch_size."""
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size} must be >= 1")
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(sizes):
        by_size.setdefault(tuple(s), []).append(i)
    return [idx[k : k + batch_size] for idx in by_size.values() for k in range(0, len(idx), batch_size)]


def load_model(checkpoint: str | Path, model: str = "teacher", device: str | torch.device = "auto",
               overrides: Sequence[str] | dict[str, Any] | None = None) -> SegmentationModel:
    """Load the `model` network (teacher | student | assistant) of a gtaseg checkpoint for inference.

    overrides: config overrides such as ["eval.mode=sliding", "eval.flip=true"] (eval.* keys decide
    whole-image vs sliding-window inference and flipping).
    """
    from gtaseg import checkpoint as ckpt
    from gtaseg.config import apply_overrides, from_dict
    from gtaseg.inference import load_trained

    if model not in ROLES:
        raise ValueError(f"model={model!r} is not valid; choose one of {', '.join(ROLES)}")
    checkpoint = ckpt.resolve(checkpoint)  # a run folder stands for its checkpoints/latest.pt
    state = ckpt.load(checkpoint)
    cfg = apply_overrides(from_dict(state["config"]), overrides)
    dev = resolve_device(device)
    module = load_trained(state, cfg, model, checkpoint).to(dev)
    model = stand_in(model, state["method"]["models"])
    num_classes = int(state["num_classes"])
    names = list(state.get("class_names") or [f"class{i}" for i in range(num_classes)])
    palette = [tuple(int(v) for v in c) for c in state.get("palette") or []]
    if len(palette) < num_classes:  # checkpoints without colours: the VOC colour map
        from gtaseg.data.datasets import voc_palette

        palette = voc_palette(num_classes)
    return SegmentationModel(module, num_classes, names, palette, cfg.eval, dev, model, str(checkpoint),
                             int(state.get("step", 0)), cfg)


def suggest(checkpoint: str | Path, budget: int, score: str = "disagreement", spread: bool = False,
            similarity: float = 0.9, seed: int = 0, overrides: Sequence[str] | None = None,
            device: str | torch.device = "auto", progress: bool = False) -> list[SuggestRow]:
    """Rank the unlabeled images of a run's split: which to label next (gtaseg.suggest explains the scores).

    Returns one row (id, score, rank, chosen) per unlabeled image, in rank order; `chosen` marks the
    `budget` picks. Writes nothing: `gtaseg suggest` ranks the same way, then writes the split and a page.
    """
    from gtaseg.suggest import open_job, rank

    return rank(open_job(checkpoint, score, overrides), budget, spread, similarity, seed, device, progress).rows
