"""Datasets, registered by name: toy mixtures, digits, MNIST, .npz arrays, image folders."""
from ganscape.data import arrays, digits, mnist, toy  # noqa: F401  (registers the datasets)
from ganscape.data.base import DATASETS, BatchStream, Dataset, TensorDataset, build_dataset

__all__ = ["DATASETS", "BatchStream", "Dataset", "TensorDataset", "build_dataset"]
