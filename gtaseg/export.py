"""`gtaseg export`: a checkpoint's network as TorchScript or ONNX.

The exported graph is the Segmenter itself: input float [B, 3, H, W] RGB in [0, 1] (it normalises
internally), output logits [B, K, H, W] at the input size. Batch, height and width are dynamic.
Class names and colours travel with the file (TorchScript extra file / ONNX metadata "gtaseg").
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from gtaseg.api import SegmentationModel, load_model

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


def default_path(checkpoint: str | Path, fmt: str, model: str) -> Path:
    """runs/x/checkpoints/best.pt -> runs/x/checkpoints/best_teacher.onnx"""
    ck = Path(checkpoint)
    return ck.with_name(f"{ck.stem}_{model}{SUFFIX[fmt]}")


def metadata(m: SegmentationModel) -> str:
    return json.dumps({"num_classes": m.num_classes, "class_names": m.class_names, "palette": m.palette,
                       "model": m.name, "checkpoint": m.checkpoint, "step": m.step,
                       "input": "float32 [B,3,H,W] RGB in [0,1]", "output": "logits [B,K,H,W]"})


def export_torchscript(m: SegmentationModel, example: torch.Tensor, out: Path) -> None:
    # Tracing records sizes as graph values (x.shape feeds interpolate), so other H, W and batch
    # sizes run correctly; scripting would fail on timm's feature wrappers.
    with warnings.catch_warnings():
        _quiet_jit()
        traced = torch.jit.trace(m.module, example, check_trace=False)
        torch.jit.save(traced, str(out), _extra_files={"gtaseg.json": metadata(m)})


def _quiet_jit() -> None:
    # TorchScript still works; its deprecation notices would only clutter the command's output.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated.*")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)


def export_onnx(m: SegmentationModel, example: torch.Tensor, out: Path, opset: int = 17, dynamo: bool = False) -> None:
    """dynamo=False: the TorchScript-based exporter (any opset >= 11, fast); dynamo=True: the
    torch.export-based one (opset >= 18). Both give dynamic batch/height/width for this model."""
    try:
        import onnx  # noqa: F401  (torch.onnx needs it; fail with an install hint instead of deep inside)
    except ImportError:
        raise RuntimeError("ONNX export needs the onnx package: pip install onnx "
                           "(and onnxruntime to run the exported model)") from None
    names = {"input_names": ["image"], "output_names": ["logits"]}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        if dynamo:
            if opset < 18:
                raise ValueError(f"--opset {opset}: the torch.export-based exporter (--dynamo) needs opset >= 18")
            dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
            program = torch.onnx.export(m.module, (example,), None, **names, dynamic_shapes={"x": dims},
                                        opset_version=opset, dynamo=True, verbose=False)
            program.save(str(out))
        else:
            axes = {0: "batch", 2: "height", 3: "width"}
            torch.onnx.export(m.module, (example,), str(out), **names, dynamic_axes={"image": axes, "logits": axes},
                              opset_version=opset, dynamo=False)
    import onnx

    proto = onnx.load(str(out))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "gtaseg", metadata(m)
    onnx.save(proto, str(out))


def export(checkpoint: str | Path, fmt: str, out: str | Path | None = None, model: str = "teacher",
           height: int = 512, width: int = 512, opset: int = 17, dynamo: bool = False,
           device: str = "cpu") -> tuple[Path, float]:
    """Export and check: returns (file, max |exported - PyTorch| over the example's logits)."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r} is not valid; choose one of {', '.join(FORMATS)}")
    if height < 16 or width < 16:
        raise ValueError(f"--height {height} --width {width}: the example input must be at least 16x16")
    m = load_model(checkpoint, model, device)
    path = Path(out) if out else default_path(checkpoint, fmt, m.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0)).to(m.device)
    with torch.no_grad():
        if fmt == "torchscript":
            export_torchscript(m, example, path)
        else:
            export_onnx(m, example, path, opset, dynamo)
        return path, check(path, fmt, m, example)


def check(path: Path, fmt: str, m: SegmentationModel, x: torch.Tensor) -> float:
    """Largest absolute logit difference between the exported file and the PyTorch module on x
    (nan when onnxruntime is not installed)."""
    expected = m.module(x).float().cpu()
    if fmt == "torchscript":
        with warnings.catch_warnings():
            _quiet_jit()
            loaded = torch.jit.load(str(path), map_location=x.device)
        got = loaded(x).float().cpu()
    else:
        try:
            import onnxruntime as ort
        except ImportError:
            return float("nan")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(sess.run(None, {"image": x.cpu().numpy()})[0])
    return float((got - expected).abs().max())
