"""Every paper configuration starts: two GTA iterations on a tiny generated tree in the dataset's layout.

The recipes themselves (ResNet-101, crop 513/769, 4-8 GPUs) cannot run here; the test swaps in a tiny
backbone and crop, keeping everything else (dataset reader, split logic, evaluation mode) as configured.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gtaseg.config import load_config
from gtaseg.engine import train

SMALL = ["model.backbone=resnet18", "model.pretrained=none", "model.aspp_channels=16", "model.decoder_channels=16",
         "model.low_level_channels=8", "data.crop_size=32", "data.num_workers=0", "train.iters=2",
         "train.epochs=0", "method.warmup_iters=1", "train.progress=false", "train.sync_bn=false",
         "eval.crop_size=40", "eval.window=32", "eval.stride=24", "data.batch_size=2", "data.unlabeled_batch_size=2"]


def image(path, h, w, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def mask(path, h, w, values, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).choice(values, (h, w)).astype(np.uint8)).save(path)


def lists(d, split, labeled, unlabeled, val):
    (d / split).mkdir(parents=True, exist_ok=True)
    (d / split / "labeled.txt").write_text("\n".join(labeled) + "\n")
    (d / split / "unlabeled.txt").write_text("\n".join(unlabeled) + "\n")
    (d / "val.txt").write_text("\n".join(val) + "\n")


def voc_tree(tmp_path, split):
    root = tmp_path / "VOC2012"
    ids = [f"2007_00{i:04d}" for i in range(7)]
    for k, i in enumerate(ids):
        image(root / "JPEGImages" / f"{i}.jpg", 36, 44, k)
        mask(root / "SegmentationClassAug" / f"{i}.png", 36, 44, [0, 1, 15, 255], k)
    lists(tmp_path / "lists", split, ids[:2], ids[2:5], ids[5:])
    return [f"data.root={root}", f"data.split_dir={tmp_path / 'lists'}", f"data.split={split}"]


def cityscapes_tree(tmp_path, split):
    root = tmp_path / "cityscapes"
    entries = []
    for k in range(7):
        sub = "val" if k >= 5 else "train"
        e = f"leftImg8bit/{sub}/aachen/aachen_{k:06d}_000019_leftImg8bit.png"
        image(root / e, 36, 72, k)
        mask(root / f"gtFine/{sub}/aachen/aachen_{k:06d}_000019_gtFine_labelIds.png", 36, 72, [7, 8, 26, 0], k)
        entries.append(e)
    lists(tmp_path / "lists", split, entries[:2], entries[2:5], entries[5:])
    return [f"data.root={root}", f"data.split_dir={tmp_path / 'lists'}", f"data.split={split}"]


@pytest.mark.parametrize("name,split,tree", [("voc_classic", "183", voc_tree), ("voc_blended", "1323", voc_tree),
                                             ("cityscapes", "372", cityscapes_tree)])
def test_paper_config_starts(tmp_path, name, split, tree):
    paper = load_config(name)
    assert paper.model.backbone == "resnet101" and paper.method.name == "gta" and paper.method.tau == 1.0
    assert paper.method.ema_decay == 0.99 and paper.method.drop_percent == 20 and paper.train.head_lr_mult == 10
    cfg = load_config(name, [*SMALL, *tree(tmp_path, split), f"train.out_dir={tmp_path / 'run'}"])
    results = train(cfg)
    assert cfg.eval.mode == paper.eval.mode  # the paper's evaluation mode is what ran
    expected_classes = 21 if name.startswith("voc") else 19
    assert len(results["teacher"]["iou"]) == expected_classes
    log = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert any("loss/assistant" in r for r in log)


def test_epochs_count_iterations_over_the_unlabeled_set(tmp_path):
    cfg = load_config("voc_classic", [*SMALL, *voc_tree(tmp_path, "92"), f"train.out_dir={tmp_path / 'run'}",
                                      "train.epochs=2", "train.eval_every=0"])
    iters_as_written = cfg.train.iters
    train(cfg)
    state = torch.load(tmp_path / "run/checkpoints/latest.pt", weights_only=False)
    assert state["iters"] == state["step"] == 3  # ceil(2 epochs x 3 unlabeled images / batch 2)
    assert cfg.train.iters == iters_as_written  # the loop never rewrites the config
