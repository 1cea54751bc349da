"""Datasets, registered by name: toy mixtures, digits, MNIST, .npz arrays, image folders, and the datasets
prepared by ``ganscape data prepare`` (CIFAR-10/100, CelebA, LSUN, any folder or Hugging Face dataset)."""
from ganscape.data import arrays, digits, mnist, prepared, scenes, stacked, toy  # noqa: F401  (registers them)
from ganscape.data.base import DATASETS, Dataset, StreamingDataset, TensorDataset, build_dataset
from ganscape.data.meta import DATA_KINDS, data_kind, data_meta
from ganscape.data.sampler import BatchStream, EpochSampler

__all__ = ["DATASETS", "DATA_KINDS", "BatchStream", "Dataset", "EpochSampler", "StreamingDataset",
           "TensorDataset", "build_dataset", "data_kind", "data_meta"]
