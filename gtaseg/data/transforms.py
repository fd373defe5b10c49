"""Training augmentation for (image, mask) pairs: random scale, pad, random crop, horizontal flip.

Images stay uint8 [3,H,W] and masks uint8 [H,W] (255 = ignore) so DataLoader workers move little
memory; the dataset converts masks to int64 at the end. All randomness comes from torch's global
RNG, so torch.manual_seed and DataLoader worker seeding make it reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = 255  # the mask value meaning "no label", everywhere in gtaseg


def _nearest_index(src: int, dst: int) -> torch.Tensor:
    # Pixel-centre ("nearest-exact") sampling: no half-pixel shift of the mask against the image.
    idx = ((torch.arange(dst, dtype=torch.float64) + 0.5) * (src / dst)).floor().long()
    return idx.clamp_(max=src - 1)


def resize(image: torch.Tensor, mask: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear for the image (rounded back to uint8), nearest for the mask (labels never blend)."""
    h, w = mask.shape
    if (h, w) == (height, width):
        return image, mask
    img = F.interpolate(image[None].float(), size=(height, width), mode="bilinear", align_corners=False)
    img = img[0].round_().clamp_(0, 255).to(torch.uint8)
    msk = mask[_nearest_index(h, height)[:, None], _nearest_index(w, width)[None, :]]
    return img, msk


def pad_to(image: torch.Tensor, mask: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad bottom/right to at least size x size: image with 0, mask with ignore (pads add no labels)."""
    h, w = mask.shape
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph == 0 and pw == 0:
        return image, mask
    return F.pad(image, (0, pw, 0, ph), value=0), F.pad(mask, (0, pw, 0, ph), value=IGNORE)


class TrainTransform:
    """Weak training augmentation shared by labeled and unlabeled streams; picklable for workers."""

    def __init__(self, crop_size: int, scale_range: tuple[float, float] = (0.5, 2.0), hflip: bool = True) -> None:
        if int(crop_size) <= 0:
            raise ValueError(f"data.crop_size must be a positive int, got {crop_size!r}")
        try:
            lo, hi = (float(s) for s in scale_range)
        except (TypeError, ValueError):
            raise ValueError(f"data.scale_range must be two numbers [min, max], got {scale_range!r}") from None
        if not 0 < lo <= hi:
            raise ValueError(f"data.scale_range must satisfy 0 < min <= max, got {scale_range!r}; e.g. [0.5, 2.0]")
        self.crop_size, self.scale_range, self.hflip = int(crop_size), (lo, hi), bool(hflip)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns image, mask and `valid` (False on padding: no pseudo labels are made there)."""
        lo, hi = self.scale_range
        if hi > lo or lo != 1.0:
            f = lo + (hi - lo) * torch.rand(()).item()
            h, w = mask.shape
            image, mask = resize(image, mask, max(1, round(h * f)), max(1, round(w * f)))
        c = self.crop_size
        h0, w0 = mask.shape
        image, mask = pad_to(image, mask, c)
        h, w = mask.shape
        top = int(torch.randint(0, h - c + 1, ()).item())
        left = int(torch.randint(0, w - c + 1, ()).item())
        image, mask = image[:, top : top + c, left : left + c], mask[top : top + c, left : left + c]
        valid = torch.zeros(c, c, dtype=torch.bool)
        valid[: max(0, h0 - top), : max(0, w0 - left)] = True  # padding is at the bottom/right
        if self.hflip and torch.rand(()).item() < 0.5:
            image, mask, valid = image.flip(-1), mask.flip(-1), valid.flip(-1)
        return image.contiguous(), mask.contiguous(), valid.contiguous()

    def __repr__(self) -> str:
        return f"TrainTransform(crop_size={self.crop_size}, scale_range={self.scale_range}, hflip={self.hflip})"
