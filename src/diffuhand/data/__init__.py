"""Data sets in their published layouts, read into one sample schema; crops, flips, augmentation, windows."""

from diffuhand.data.registry import DATASETS, open_dataset
from diffuhand.data.schema import HandDataset, HandSample

__all__ = ["DATASETS", "HandDataset", "HandSample", "open_dataset"]
