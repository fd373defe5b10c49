"""Strong photometric perturbation of the unlabeled view that learns from pseudo labels.

The teacher labels the clean images; the model that learns from those labels (the assistant in
GTA-Seg, the student in Mean Teacher) sees a perturbed copy, so its loss is not near zero by
construction. The recipe follows the strong view of FixMatch / UniMatch: colour jitter (brightness,
contrast, saturation 0.5, hue 0.25) with probability 0.8, grayscale with probability 0.2, Gaussian
blur (sigma 0.1-2) with probability 0.5. Everything is per image and batched on the images' device;
the random draws come from the CPU generator, which training seeds per rank and checkpoints, so a
run (and its resume) is reproducible from train.seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

JITTER_P, GRAY_P, BLUR_P = 0.8, 0.2, 0.5
BRIGHTNESS = CONTRAST = SATURATION = 0.5  # factor drawn from [1 - s, 1 + s]
HUE = 0.25  # hue rotation drawn from [-HUE, HUE] turns
SIGMA = (0.1, 2.0)
_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def _uniform(n: int, lo: float, hi: float) -> Tensor:
    return torch.empty(n).uniform_(lo, hi)


def _gray(x: Tensor) -> Tensor:
    w = x.new_tensor(_GRAY).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _hue(x: Tensor, turns: Tensor) -> Tensor:
    """Rotate the chroma plane of YIQ by `turns` x 360 degrees (a linear hue shift, brightness kept)."""
    rgb2yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq2rgb = torch.linalg.inv(rgb2yiq)
    cos, sin = torch.cos(turns * 2 * math.pi), torch.sin(turns * 2 * math.pi)
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rot = torch.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], 1).view(-1, 3, 3)
    m = yiq2rgb @ rot @ rgb2yiq  # [B,3,3]
    return torch.einsum("bij,bjhw->bihw", m, x)


def _blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Separable Gaussian blur with one sigma per image (kernel radius 3 x the largest sigma)."""
    b, c, h, w = x.shape
    radius = math.ceil(3 * SIGMA[1])
    r = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None] ** 2))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [B*C, 2r+1]
    y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k[:, None, None, :], groups=b * c)
    y = F.conv2d(y, k[:, None, :, None], groups=b * c)
    return y.view(b, c, h, w)


@torch.no_grad()
def strong_photometric(x: Tensor) -> Tensor:
    """Perturb each image of a float [B,3,H,W] batch in [0, 1]; returns a new tensor in [0, 1]."""
    b = len(x)
    dev = x.device

    def per_image(values: Tensor) -> Tensor:
        return values.to(dev, x.dtype).view(b, 1, 1, 1)

    jitter = per_image(torch.rand(b) < JITTER_P).bool()
    factors = {"brightness": _uniform(b, 1 - BRIGHTNESS, 1 + BRIGHTNESS),
               "contrast": _uniform(b, 1 - CONTRAST, 1 + CONTRAST),
               "saturation": _uniform(b, 1 - SATURATION, 1 + SATURATION),
               "hue": _uniform(b, -HUE, HUE)}
    gray = per_image(torch.rand(b) < GRAY_P).bool()
    blur = per_image(torch.rand(b) < BLUR_P).bool()
    sigma = _uniform(b, *SIGMA).to(dev, x.dtype)
    order = torch.randperm(4).tolist()  # ColorJitter's random order of the four operations (per batch)

    y = x
    for i in order:
        op = ("brightness", "contrast", "saturation", "hue")[i]
        f = factors[op]
        if op == "brightness":
            z = y * per_image(f)
        elif op == "contrast":
            mean = _gray(y).mean((1, 2, 3), keepdim=True)
            z = (y - mean) * per_image(f) + mean
        elif op == "saturation":
            g = _gray(y)
            z = (y - g) * per_image(f) + g
        else:
            z = _hue(y, f.to(dev, x.dtype))
        y = torch.where(jitter, z.clamp(0, 1), y)
    y = torch.where(gray, _gray(y).expand_as(y), y)
    y = torch.where(blur, _blur(y, sigma), y)
    return y.clamp(0, 1)
