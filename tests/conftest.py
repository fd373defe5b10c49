"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import TINY_OVERRIDES


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Tiny convolutions run far slower with several threads on a busy 2-core machine.
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run directory of a 4-iteration GTA run on the synthetic demo data (CPU, a few seconds, once per session)."""
    from gtaseg.config import load_config
    from gtaseg.engine import train

    out = tmp_path_factory.mktemp("tiny_run")
    train(load_config("demo", [*TINY_OVERRIDES, f"train.out_dir={out}"]))
    return out


@pytest.fixture(scope="session")
def ckpt(run: Path) -> Path:
    """The tiny run's best checkpoint."""
    return run / "checkpoints" / "best.pt"
