"""A training step never waits on the host: nothing in it reads a device value back.

On CPU a device-to-host read cannot be timed, so the test catches the calls that would be one on a
GPU (.item(), .tolist(), bool()/float()/int() of a tensor, boolean-mask indexing, bincount, nonzero)
and allows only the ones that read the CPU random generator.
"""

import inspect
from pathlib import Path

import pytest
import torch

from gtaseg.config import load_config
from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.distributed import DistInfo
from gtaseg.engine import build_models
from gtaseg.methods import METHODS

TINY = ["model.backbone=resnet18", "model.aspp_channels=16", "model.decoder_channels=16",
        "model.low_level_channels=8", "data.num_workers=0"]
PACKAGE = Path(__import__("gtaseg").__file__).parent
# Draws from the CPU generator (the CutMix coin and boxes, the jitter order): host values by design.
CPU_DRAWS = ("torch.rand(()).item()", "torch.randint(0, h - bh + 1, (b,)).tolist()",
             "torch.randint(0, w - bw + 1, (b,)).tolist()", "torch.randperm(4).tolist()")


def host_reads(monkeypatch) -> list[str]:
    """Source lines in gtaseg that read a tensor's value on the host, recorded as they happen."""
    seen: list[str] = []

    def caller() -> str | None:
        for frame in inspect.stack()[2:]:
            if Path(frame.filename).is_relative_to(PACKAGE):
                return f"{Path(frame.filename).name}:{frame.lineno}: {frame.code_context[0].strip()}"
        return None

    def spy(name, fn, when=lambda *a, **k: True):
        def wrapped(*a, **k):
            if when(*a, **k) and (where := caller()):
                seen.append(where)
            return fn(*a, **k)
        monkeypatch.setattr(torch.Tensor if hasattr(torch.Tensor, name) and name != "bincount" else torch, name,
                            wrapped)

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "numpy", "nonzero"):
        spy(name, getattr(torch.Tensor, name))
    spy("bincount", torch.bincount)

    def bool_index(self, key):
        keys = key if isinstance(key, tuple) else (key,)
        return any(isinstance(k, torch.Tensor) and k.dtype == torch.bool for k in keys)
    spy("__getitem__", torch.Tensor.__getitem__, bool_index)
    return seen


@pytest.mark.parametrize("method,opts", [
    ("gta", ["method.perturb=true", "method.cutmix_prob=1", "method.drop_scope=class"]),
    ("gta", ["method.confidence_pass=mixed", "method.joint_forward=true", "method.cutmix_prob=1"]),
    ("gta", ["method.threshold=0.5"]),
    ("mean_teacher", ["method.perturb=true", "method.cutmix_prob=1"]),
    ("sup_only", []),
    ("unimatch", ["method.cutmix_prob=0.5"]),
])
def test_train_step_reads_nothing_back_from_the_device(method, opts, monkeypatch):
    cfg = load_config("demo", [*TINY, f"method.name={method}", *opts])
    torch.manual_seed(0)
    m = METHODS[method](cfg, build_models(cfg, 3, torch.device("cpu"), DistInfo()), DistInfo(), 1)
    g = torch.Generator().manual_seed(0)
    labeled = LabeledBatch(torch.rand(2, 3, 32, 32, generator=g), torch.randint(0, 3, (2, 32, 32), generator=g))
    unlabeled = UnlabeledBatch(torch.rand(2, 3, 32, 32, generator=g), torch.randint(0, 3, (2, 32, 32), generator=g),
                               torch.ones(2, 32, 32, dtype=torch.bool))
    m.train_step(labeled, unlabeled, 0)  # warm-up step; ends warm-up
    seen = host_reads(monkeypatch)
    logs = m.train_step(labeled, unlabeled, 1)
    monkeypatch.undo()
    assert [s for s in seen if not any(draw in s for draw in CPU_DRAWS)] == []
    assert all(isinstance(v, torch.Tensor) for v in logs.values())


def test_the_spy_sees_a_host_read(monkeypatch):
    from gtaseg import losses

    conf, labels = torch.rand(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long)
    seen = host_reads(monkeypatch)
    torch.zeros(2).tolist()  # a read outside gtaseg is not reported
    losses.pseudo_labels(conf, labels, drop_scope="class", num_classes=2)  # no read
    assert seen == []
    losses.pseudo_labels(conf, labels, drop_scope="class")  # unknown class count: reads labels.max()
    monkeypatch.undo()
    assert len(seen) == 1 and "labels.max()" in seen[0], seen
