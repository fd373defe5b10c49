"""`gtaseg export`: the exported TorchScript / ONNX model computes what the PyTorch module computes."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from gtaseg.api import load_model
from gtaseg.cli import main
from gtaseg.export import export


@pytest.fixture(scope="module")
def reference(ckpt):
    """A batch of 2 at a size other than the export example's, and the PyTorch logits for it."""
    x = torch.rand(2, 3, 72, 56, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return x, load_model(ckpt, device="cpu").module(x)


def test_torchscript_matches_pytorch(ckpt, reference, tmp_path):
    out = tmp_path / "m.torchscript.pt"
    path, diff = export(ckpt, "torchscript", out, height=64, width=64)
    assert path == out and diff < 1e-4
    extra = {"gtaseg.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        loaded = torch.jit.load(str(out), _extra_files=extra)
    x, expected = reference
    with torch.no_grad():
        got = loaded(x)
    assert got.shape == (2, 5, 72, 56)  # dynamic batch, height, width
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    meta = json.loads(extra["gtaseg.json"])
    assert meta["num_classes"] == 5 and meta["class_names"][0] == "background" and len(meta["palette"]) == 5


def test_onnx_matches_pytorch(ckpt, reference, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    path, diff = export(ckpt, "onnx", out, height=64, width=64, opset=17)
    assert path == out and diff < 1e-4
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image"] and [o.name for o in sess.get_outputs()] == ["logits"]
    x, expected = reference
    got = sess.run(None, {"image": x.numpy()})[0]
    assert got.shape == (2, 5, 72, 56)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)
    meta = json.loads(sess.get_modelmeta().custom_metadata_map["gtaseg"])
    assert meta["class_names"][:2] == ["background", "disc"] and meta["model"] == "teacher"


@pytest.mark.slow
def test_onnx_dynamo_exporter(ckpt, reference, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "d.onnx"
    _, diff = export(ckpt, "onnx", out, height=64, width=64, opset=18, dynamo=True)
    assert diff < 1e-4
    x, expected = reference
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=0)


def test_export_cli(ckpt, capsys):
    assert main(["export", str(ckpt), "--format", "torchscript", "--model", "student", "--height", "32",
                 "--width", "48"]) == 0
    out = ckpt.with_name("best_student.torchscript.pt")
    assert out.is_file()
    printed = capsys.readouterr().out
    assert str(out) in printed and "max |difference| to PyTorch" in printed
    assert main(["export", str(ckpt), "--format", "onnx", "--dynamo", "--opset", "17"]) == 2
    assert "opset >= 18" in capsys.readouterr().err
    assert main(["export", str(ckpt), "--format", "torchscript", "--height", "8"]) == 2
    assert "at least 16x16" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(ckpt), "--format", "tflite"])
