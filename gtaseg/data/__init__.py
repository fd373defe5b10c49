"""Datasets for semi-supervised segmentation: `build_datasets(data_cfg)` -> DatasetBundle."""

from gtaseg.data.datasets import DATASETS, DatasetBundle, build_datasets
from gtaseg.data.transforms import IGNORE, TrainTransform

__all__ = ["DATASETS", "IGNORE", "DatasetBundle", "TrainTransform", "build_datasets"]
