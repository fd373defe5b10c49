"""DeepLabv3+ head parts: ASPP, the low-level fusion decoder, and the classifier."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Atrous rates scale with the output stride so the receptive fields stay the
# same in input pixels (DeepLabv3: rates double when the stride halves).
ASPP_RATES: dict[int, tuple[int, int, int]] = {16: (6, 12, 18), 8: (12, 24, 36)}


def conv_bn_relu(in_ch: int, out_ch: int, kernel_size: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class ImagePooling(nn.Module):
    """Global-average-pool branch of ASPP.

    No BatchNorm here on purpose: after pooling each channel has a single value
    per image, so BN in train mode fails with batch size 1 ("Expected more
    than 1 value per channel") and is very noisy for small batches. A biased
    1x1 conv + ReLU keeps the branch well defined for any batch size.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = F.relu(self.conv(F.adaptive_avg_pool2d(x, 1)))
        # Upsampling a 1x1 map is a broadcast; expand is exact and allocation-free.
        return y.expand(-1, -1, h, w)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3, image pooling."""

    def __init__(self, in_ch: int, out_ch: int, rates: Sequence[int], dropout: float) -> None:
        super().__init__()
        branches: list[nn.Module] = [conv_bn_relu(in_ch, out_ch, 1)]
        branches += [conv_bn_relu(in_ch, out_ch, 3, dilation=r) for r in rates]
        branches.append(ImagePooling(in_ch, out_ch))
        self.branches = nn.ModuleList(branches)
        self.project = conv_bn_relu(out_ch * len(branches), out_ch, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([branch(x) for branch in self.branches], dim=1)
        return self.dropout(self.project(y))


class DeepLabV3PlusDecoder(nn.Module):
    """ASPP on the deepest map, fused with the reduced stride-4 map.

    Input: the encoder's (low_level, deepest) tuple. Output: a
    `decoder_channels` map at stride 4 (the classifier's input).
    """

    def __init__(
        self,
        low_level_in: int,
        high_level_in: int,
        output_stride: int,
        aspp_channels: int = 256,
        decoder_channels: int = 256,
        low_level_channels: int = 48,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if output_stride not in ASPP_RATES:
            raise ValueError(
                f"model.output_stride={output_stride!r} has no ASPP rates; valid choices: {sorted(ASPP_RATES)}"
            )
        for key, value in (
            ("aspp_channels", aspp_channels),
            ("decoder_channels", decoder_channels),
            ("low_level_channels", low_level_channels),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{key}={value!r} must be a positive integer (default: 256/256/48)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"model.dropout={dropout!r} must be in [0, 1) (default: 0.1)")
        self.aspp = ASPP(high_level_in, aspp_channels, ASPP_RATES[output_stride], dropout)
        self.reduce = conv_bn_relu(low_level_in, low_level_channels, 1)
        self.fuse = nn.Sequential(
            conv_bn_relu(aspp_channels + low_level_channels, decoder_channels, 3),
            conv_bn_relu(decoder_channels, decoder_channels, 3),
        )
        self.out_channels = decoder_channels
        _init_head(self)

    def forward(self, feats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        low, deep = feats
        context = self.aspp(deep)
        # Stride-4 map sizes are ceil(H/4); resize to exactly that (odd inputs included).
        context = F.interpolate(context, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([context, self.reduce(low)], dim=1))


class Classifier(nn.Module):
    """Dropout + 1x1 conv to class logits (at the decoder's stride)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv2d(in_channels, num_classes, 1)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.dropout(x))


def _init_head(module: nn.Module) -> None:
    # He init suits the ReLU head; PyTorch's default conv init is scaled for a=sqrt(5).
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
