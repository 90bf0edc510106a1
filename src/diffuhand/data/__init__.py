"""Data sets in their published layouts, read into one sample schema; crops, flips, augmentation, windows."""

from diffuhand.data.schema import HandDataset, HandSample
from diffuhand.data.registry import DATASETS, open_dataset

__all__ = ["DATASETS", "HandDataset", "HandSample", "open_dataset"]
