"""Settings of the tiny demo run (trained once per session in conftest.py) and its evaluation images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

TINY_OVERRIDES = [
    "train.iters=4", "train.eval_every=2", "train.save_every=2", "method.warmup_iters=2",
    "model.aspp_channels=16", "model.decoder_channels=16", "model.low_level_channels=8",
    "data.synthetic_num_unlabeled=16", "data.synthetic_num_eval=4", "data.num_workers=0",
    "train.progress=false", "train.device=cpu",
]  # fmt: skip


def write_eval_images(folder: Path, count: int = 2) -> tuple[list[Path], list[Path]]:
    """The first `count` synthetic evaluation images (folder/imgI.png) and their masks (folder/masks/imgI.png)."""
    from gtaseg.config import load_config
    from gtaseg.data import build_datasets

    cfg = load_config("demo", [*TINY_OVERRIDES])
    data = build_datasets(cfg.data)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    images, masks = [], []
    for i in range(count):
        item = data.eval[i]
        images.append(folder / f"img{i}.png")
        masks.append(folder / "masks" / f"img{i}.png")
        Image.fromarray(item["image"].permute(1, 2, 0).numpy()).save(images[-1])
        Image.fromarray(item["mask"].numpy().astype(np.uint8)).save(masks[-1])
    return images, masks
