"""Model layer: DeepLabv3+ segmenters split into feature extractor f and mask predictor g."""
from .backbone import Encoder
from .deeplab import ASPP, Classifier, DeepLabV3PlusDecoder
from .pretrained import (
    EFFICIENTNET_LITE_MEAN,
    EFFICIENTNET_LITE_STD,
    PRETRAINED_KEYWORDS,
    convert_efficientnet_lite,
    efficientnet_lite_weights_path,
    read_state_dict,
)
from .segmenter import FEATURE_SPLITS, Segmenter, build_segmenter

__all__ = [
    "ASPP",
    "Classifier",
    "DeepLabV3PlusDecoder",
    "EFFICIENTNET_LITE_MEAN",
    "EFFICIENTNET_LITE_STD",
    "Encoder",
    "FEATURE_SPLITS",
    "PRETRAINED_KEYWORDS",
    "Segmenter",
    "build_segmenter",
    "convert_efficientnet_lite",
    "efficientnet_lite_weights_path",
    "read_state_dict",
]
