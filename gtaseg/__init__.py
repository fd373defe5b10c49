"""gtaseg: semi-supervised semantic segmentation with the Gentle Teaching Assistant (GTA-Seg)."""

__version__ = "0.1.0"
