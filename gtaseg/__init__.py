"""gtaseg: semi-supervised semantic segmentation with the Gentle Teaching Assistant (GTA-Seg)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_model"]

if TYPE_CHECKING:
    from gtaseg.api import load_model


def __getattr__(name: str) -> Any:
    # Lazy: `import gtaseg` (and the CLI's start-up) stays free of torch until the API is used.
    if name == "load_model":
        from gtaseg.api import load_model

        return load_model
    raise AttributeError(f"module 'gtaseg' has no attribute {name!r}")
