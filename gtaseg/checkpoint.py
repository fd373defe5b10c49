"""Complete training state on disk: written atomically, loaded with weights_only=True."""

from __future__ import annotations

import errno
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def save(state: dict[str, Any], path: str | Path) -> None:
    """Write to a temporary file in the same folder, flush to disk, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as "[enforce fail at inline_container.cc]"
        Path(tmp).unlink(missing_ok=True)
        full = getattr(e, "errno", None) == errno.ENOSPC or "enforce fail" in str(e) or "file write failed" in str(e)
        why = ("the disk is full (or the write failed)" if full
               else f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}")
        kept = f"the previous {path.name} is kept" if path.is_file() else f"no {path.name} was written"
        raise OSError(f"could not write checkpoint {path}: {why}; {kept}; free space in {path.parent} "
                      "or choose another train.out_dir") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve(path: str | Path) -> Path:
    """A checkpoint file, or the latest.pt of a run folder (or of its checkpoints/ folder)."""
    p = Path(path)
    if not p.is_dir():
        return p
    for candidate in (p / "checkpoints" / "latest.pt", p / "latest.pt"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{p} is a folder without checkpoints/latest.pt; give a checkpoint file or a run "
                            "folder (train.out_dir) that has one")


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, not a checkpoint, or unsafe pickled objects
        first = (str(e).strip().splitlines() or ["empty or truncated file"])[0]
        raise ValueError(f"checkpoint {path} cannot be read ({type(e).__name__}: {first}); "
                         "is it a gtaseg checkpoint written completely?") from None
    if not isinstance(state, dict) or "method" not in state or "config" not in state:
        raise ValueError(f"checkpoint {path} is not a gtaseg checkpoint (no 'method'/'config' entries)")
    return state


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": list(random.getstate()[1]) + [random.getstate()[0], random.getstate()[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore rng_state(); its tensors may come back on any device (torch wants CPU byte tensors)."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n[0], n[1].cpu().numpy().astype(np.uint32), *n[2:]))
    p = state["python"]
    random.setstate((p[-2], tuple(p[:-2]), p[-1]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
