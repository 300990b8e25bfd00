"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009): 32x32 colour images, 50k train / 10k test."""

import os
from typing import Any

import torch
from torch import Tensor
from torchvision.datasets import CIFAR10, CIFAR100

from lit_kd.data.vision import TorchvisionDataModule


# torchvision re-hashes every extracted file (~180 MB) at each construction and rejects any file whose md5 it does
# not know. The downloaded archive is still verified (``tgz_md5``), so checking that the extracted files exist is
# enough, and it lets locally generated copies (e.g. test fixtures) load through the same code. Module-level
# classes, so that DataLoader workers can unpickle the datasets.
class _CIFAR10(CIFAR10):
    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


class _CIFAR100(CIFAR100):
    train_list = [[name, None] for name, _ in CIFAR100.train_list]
    test_list = [[name, None] for name, _ in CIFAR100.test_list]
    meta = {**CIFAR100.meta, "md5": None}


class _CIFARDataModule(TorchvisionDataModule):
    """Shared implementation of the CIFAR datamodules."""

    num_train_samples = 50_000
    input_shape = (3, 32, 32)

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        batch_size: int = 128,
        val_size: int = 5000,
        augment: bool = True,
        seed: int = 0,
        num_workers: int = 0,
        in_memory: bool = True,
    ) -> None:
        """CIFAR train/val/test splits; with ``download=False`` the files must exist already.

        Args:
            data_dir: directory that holds (or will receive) the extracted dataset folder.
            download: download missing files in ``prepare_data``; when False, missing files fail here.
            batch_size: samples per batch for every split.
            val_size: training samples held out for validation (default 5000, leaving 45k to train on); 0 trains
                on all 50k, the usual protocol when reporting test accuracy.
            augment: standard CIFAR augmentation of training inputs: random crop with 4-pixel zero padding and
                random horizontal flip.
            seed: seed of the train/validation split.
            num_workers: DataLoader worker processes; 0 is fastest for the in-memory path.
            in_memory: keep the raw images as one tensor and preprocess whole batches on the device (fast); False
                uses per-sample torchvision transforms (``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``,
                ``ToTensor``, ``Normalize``).
        """
        super().__init__(data_dir, download, batch_size, val_size, seed, num_workers, in_memory)
        self.augment = augment
        self._max_shift = 4 if augment else 0
        self._hflip = augment

    def required_files(self) -> list[str]:
        cls = self.dataset_cls
        names = [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
        return [os.path.join(cls.base_folder, name) for name in names]

    @staticmethod
    def _as_tensors(dataset: Any) -> tuple[Tensor, Tensor]:
        # torchvision keeps CIFAR as an (N, H, W, C) numpy array and a list of labels.
        inputs = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
        return inputs, torch.tensor(dataset.targets, dtype=torch.long)


class CIFAR10DataModule(_CIFARDataModule):
    """CIFAR-10, 10 classes, from torchvision's ``<data_dir>/cifar-10-batches-py/``.

    The folder holds ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``. Inputs are
    ``(N, 3, 32, 32)``, normalised with the CIFAR-10 training-set channel means and standard deviations.
    """

    dataset_cls = _CIFAR10
    num_classes = 10
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)


class CIFAR100DataModule(_CIFARDataModule):
    """CIFAR-100, 100 fine-label classes, from torchvision's ``<data_dir>/cifar-100-python/``.

    The folder holds ``train``, ``test`` and ``meta``. Inputs are ``(N, 3, 32, 32)``, normalised with the CIFAR-100
    training-set channel means and standard deviations.
    """

    dataset_cls = _CIFAR100
    num_classes = 100
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
