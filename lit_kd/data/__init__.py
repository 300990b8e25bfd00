"""LightningDataModules for image classification; every batch is ``(inputs, targets, indices)``."""

from lit_kd.data.base import ClassificationDataModule
from lit_kd.data.class_incremental import ClassIncrementalDataModule
from lit_kd.data.cifar import CIFAR10DataModule, CIFAR100DataModule
from lit_kd.data.datasets import IndexedDataset, InMemoryDataset, collate
from lit_kd.data.digits import DigitsDataModule
from lit_kd.data.mnist import MNISTDataModule
from lit_kd.data.vision import TorchvisionDataModule

__all__ = [
    "CIFAR100DataModule",
    "CIFAR10DataModule",
    "ClassIncrementalDataModule",
    "ClassificationDataModule",
    "DigitsDataModule",
    "IndexedDataset",
    "InMemoryDataset",
    "MNISTDataModule",
    "TorchvisionDataModule",
    "collate",
]
