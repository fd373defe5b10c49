"""Python API: load_model(...).predict(...) against the raw module, every accepted image type."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import gtaseg
from gtaseg.api import as_tensor, load_model, size_groups
from gtaseg.data import synthetic
from gtaseg.inference import sliding_window


@pytest.fixture(scope="module")
def model(ckpt):
    return load_model(ckpt, device="cpu")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)  # odd, non-square size


def reference_probs(model, img: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return model.module(x).softmax(1)[0]


def test_exported_from_package(ckpt):
    assert gtaseg.load_model is load_model
    assert "load_model" in gtaseg.__all__


def test_metadata(model):
    assert model.num_classes == 5
    assert model.class_names == list(synthetic.CLASS_NAMES[:5])
    assert model.palette == [tuple(c) for c in synthetic.PALETTE[:5]]
    assert isinstance(model.module, torch.nn.Module) and not model.module.training
    assert model.name == "teacher" and model.step == 4 and model.device.type == "cpu"


def test_predict_matches_module_for_every_input_type(model, image, tmp_path):
    expected = reference_probs(model, image).argmax(0).numpy()
    path = tmp_path / "x.png"
    Image.fromarray(image).save(path)
    inputs = {
        "pil": Image.fromarray(image),
        "numpy": image,
        "tensor_uint8": torch.from_numpy(image).permute(2, 0, 1),
        "tensor_float": torch.from_numpy(image).permute(2, 0, 1).float() / 255,
        "path": path,
    }
    for kind, inp in inputs.items():
        mask = model.predict(inp)
        assert mask.shape == (50, 70) and mask.dtype == np.uint8, kind
        np.testing.assert_array_equal(mask, expected, err_msg=kind)


def test_predict_proba(model, image):
    probs = model.predict_proba(image)
    assert probs.shape == (5, 50, 70) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, reference_probs(model, image).numpy(), atol=1e-6)
    np.testing.assert_array_equal(probs.argmax(0), model.predict(image))


def test_sliding_and_flip_overrides(ckpt, image):
    m = load_model(ckpt, device="cpu", overrides=["eval.mode=sliding", "eval.window=32", "eval.stride=20",
                                                  "eval.flip=true"])
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        ref = (sliding_window(m.module, x, 5, 32, 20) + sliding_window(m.module, x.flip(-1), 5, 32, 20).flip(-1)) / 2
    np.testing.assert_allclose(m.predict_proba(image), ref[0].numpy(), atol=1e-6)
    whole = load_model(ckpt, device="cpu")
    assert not np.allclose(m.predict_proba(image), whole.predict_proba(image), atol=1e-4)


def test_center_crop_mode_still_predicts_whole_image(ckpt, model, image):
    m = load_model(ckpt, device="cpu", overrides=["eval.mode=center_crop", "eval.crop_size=32"])
    assert m.predict(image).shape == image.shape[:2]
    np.testing.assert_array_equal(m.predict(image), model.predict(image))


def test_predict_batch_mixed_sizes(model, image):
    other = np.ascontiguousarray(image[:40, :30])
    images = [image, other, image[::-1].copy(), other]
    masks = model.predict_batch(images, batch_size=2)
    assert [m.shape for m in masks] == [(50, 70), (40, 30), (50, 70), (40, 30)]
    for img, mask in zip(images, masks):
        agree = (reference_probs(model, img).argmax(0).numpy() == mask).mean()
        assert agree > 0.999  # batched convolutions may differ by rounding on exact ties only
    assert size_groups([(1, 1), (2, 2), (1, 1), (1, 1)], 2) == [[0, 2], [3], [1]]


def test_other_networks_of_the_checkpoint(ckpt, image):
    for name in ("student", "assistant"):
        m = load_model(ckpt, model=name, device="cpu")
        assert m.name == name
        assert m.predict(image).shape == (50, 70)


def test_colorize_and_overlay(model):
    mask = np.array([[0, 1, 2], [3, 4, 255]], np.uint8)
    rgb = np.array(model.colorize(mask))
    assert model.colorize(mask).mode == "RGB"
    for (r, c), v in np.ndenumerate(mask):
        expected = model.palette[v] if v < 5 else (255, 255, 255)
        assert tuple(rgb[r, c]) == tuple(expected)
    img = np.full((2, 3, 3), 100, np.uint8)
    blended = np.array(model.overlay(img, mask)).astype(int)
    assert np.abs(blended - (0.5 * rgb + 50)).max() <= 1


def test_input_errors(model, ckpt, tmp_path):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.predict(torch.full((3, 8, 8), 200.0))
    with pytest.raises(ValueError, match="HxWx3"):
        model.predict(np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        model.predict(torch.zeros(8, 8, 3))
    with pytest.raises(TypeError, match="unsupported type"):
        model.predict([1, 2, 3])
    with pytest.raises(FileNotFoundError, match="nope.png"):
        model.predict(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="bad.png"):
        as_tensor(bad)
    with pytest.raises(ValueError, match="model='bogus'"):
        load_model(ckpt, model="bogus")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_model(tmp_path / "missing.pt")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            load_model(ckpt, device="cuda")
