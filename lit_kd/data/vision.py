"""Shared machinery of the datamodules backed by a torchvision dataset (MNIST, CIFAR-10/100)."""

import os
from typing import Any

import torch
from torch import Tensor
from torchvision import transforms as T
from torchvision.datasets import VisionDataset

from lit_kd.data.base import ClassificationDataModule, check_int
from lit_kd.data.datasets import IndexedDataset, InMemoryDataset


class TorchvisionDataModule(ClassificationDataModule):
    """A torchvision dataset's official train set split into train/val by ``seed``, plus its official test set.

    Subclasses set ``dataset_cls``, ``num_train_samples`` (official train-set size), ``num_classes``,
    ``input_shape``, ``mean``, ``std`` and implement :meth:`required_files` and :meth:`_as_tensors`.
    """

    dataset_cls: type[VisionDataset]
    num_train_samples: int

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        batch_size: int = 128,
        val_size: int = 5000,
        seed: int = 0,
        num_workers: int = 0,
        in_memory: bool = True,
    ) -> None:
        """Train/val split of the official train set and the official test set.

        Args:
            data_dir: directory that holds (or will receive) the dataset files.
            download: download missing files in ``prepare_data``; when False, missing files fail at construction.
            batch_size: samples per batch for every split.
            val_size: samples of the official train set held out for validation; 0 disables validation.
            seed: seed of the train/validation split.
            num_workers: DataLoader worker processes.
            in_memory: batched on-device preprocessing (fast) instead of per-sample torchvision transforms.
        """
        super().__init__(data_dir, download, batch_size, num_workers, in_memory, seed)
        check_int("val_size", val_size, 0)
        if val_size >= self.num_train_samples:
            raise ValueError(
                f"`val_size` must be smaller than the {self.num_train_samples} training samples, got {val_size}"
            )
        self.val_size = val_size
        if not download:
            # Fail before a Trainer is built rather than in setup() on every rank.
            self._check_files()

    def required_files(self) -> list[str]:
        """Paths, relative to ``data_dir``, of the files the dataset is read from."""
        raise NotImplementedError

    @staticmethod
    def _as_tensors(dataset: Any) -> tuple[Tensor, Tensor]:
        """``(uint8 (N, C, H, W) inputs, int64 (N,) targets)`` of a loaded torchvision dataset."""
        raise NotImplementedError

    def _check_files(self) -> None:
        missing = [f for f in self.required_files() if not os.path.isfile(os.path.join(self.data_dir, f))]
        if missing:
            listing = "\n".join(f"  - {f}" for f in missing)
            raise FileNotFoundError(
                f"{type(self).__name__}: {len(missing)} dataset file(s) missing from "
                f"{os.path.abspath(self.data_dir)!r} (data_dir={self.data_dir!r}):\n{listing}\n"
                "Set `download: true` (download=True) to fetch them, or point `data_dir` at a directory that "
                "holds them."
            )

    def prepare_data(self) -> None:
        # Lightning calls this on one process per node, so concurrent ranks never write the same files.
        if self.download:
            for train in (True, False):
                self.dataset_cls(self.data_dir, train=train, download=True)

    def _sample_transform(self, train: bool) -> T.Compose:
        """Per-sample equivalent of :meth:`preprocess` (``RandomCrop`` with padding is the same translation)."""
        steps: list[Any] = []
        if train and self._max_shift:
            steps.append(T.RandomCrop(self.input_shape[1:], padding=self._max_shift))
        if train and self._hflip:
            steps.append(T.RandomHorizontalFlip())
        steps += [T.ToTensor(), T.Normalize(self.mean, self.std)]
        return T.Compose(steps)

    def _setup_datasets(self) -> None:
        train_set = self.dataset_cls(self.data_dir, train=True)
        test_set = self.dataset_cls(self.data_dir, train=False)
        if self.val_size >= len(train_set):
            raise ValueError(
                f"`val_size` must be smaller than the {len(train_set)} training samples found in "
                f"{os.path.abspath(self.data_dir)!r}, got {self.val_size}"
            )
        perm = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(self.seed))
        # Sorted, so that a split's order (and hence its indices) does not depend on the permutation.
        train_idx, val_idx = perm[self.val_size :].sort().values, perm[: self.val_size].sort().values
        self.source_indices = {"train": train_idx, "val": val_idx, "test": torch.arange(len(test_set))}

        if self.in_memory:
            x, y = self._as_tensors(train_set)
            self.train_dataset = InMemoryDataset(x[train_idx], y[train_idx])
            self.val_dataset = InMemoryDataset(x[val_idx], y[val_idx]) if self.val_size else None
            self.test_dataset = InMemoryDataset(*self._as_tensors(test_set))
        else:
            train_tf, eval_tf = self._sample_transform(train=True), self._sample_transform(train=False)
            targets = train_set.targets
            self.train_dataset = IndexedDataset(train_set, targets, train_idx, train_tf)
            self.val_dataset = IndexedDataset(train_set, targets, val_idx, eval_tf) if self.val_size else None
            self.test_dataset = IndexedDataset(test_set, test_set.targets, transform=eval_tf)
