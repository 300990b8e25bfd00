"""MNIST (LeCun et al., 1998): 28x28 grey handwritten digits, 60k train / 10k test."""

import os
from typing import Any

from torch import Tensor
from torchvision.datasets import MNIST

from lit_kd.data.base import check_int
from lit_kd.data.vision import TorchvisionDataModule


class MNISTDataModule(TorchvisionDataModule):
    """MNIST, 10 classes, from torchvision's ``<data_dir>/MNIST/raw/``.

    The folder holds ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (uncompressed IDX). Inputs are
    ``(N, 1, 28, 28)``, normalised with the usual MNIST mean 0.1307 and std 0.3081. The validation split is
    ``val_size`` samples of the 60k training set drawn with ``seed``; the test split is the official 10k.

    Example:
        >>> dm = MNISTDataModule(data_dir="data", download=True, jitter=2)  # doctest: +SKIP
        >>> trainer.fit(model, datamodule=dm)  # doctest: +SKIP
    """

    dataset_cls = MNIST
    num_train_samples = 60_000
    num_classes = 10
    input_shape = (1, 28, 28)
    mean = (0.1307,)
    std = (0.3081,)

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        batch_size: int = 128,
        val_size: int = 5000,
        jitter: int = 0,
        seed: int = 0,
        num_workers: int = 0,
        in_memory: bool = True,
    ) -> None:
        """MNIST train/val/test splits; with ``download=False`` the files must exist already.

        Args:
            data_dir: directory that holds (or will receive) ``MNIST/raw/``.
            download: download missing files in ``prepare_data``; when False, missing files fail at construction.
            batch_size: samples per batch for every split.
            val_size: training samples held out for validation; 0 disables validation (the 60k all train).
            jitter: largest random translation, in pixels along each axis, applied to training inputs (zero fill).
                Hinton et al. (2015), section 3, jitter MNIST by up to 2 pixels. 0 disables augmentation.
            seed: seed of the train/validation split.
            num_workers: DataLoader worker processes; 0 is fastest for the in-memory path.
            in_memory: keep the raw images as one tensor and preprocess whole batches on the device (fast); False
                uses per-sample torchvision transforms (``RandomCrop(28, padding=jitter)``, ``ToTensor``,
                ``Normalize``).
        """
        check_int("jitter", jitter, 0)
        super().__init__(data_dir, download, batch_size, val_size, seed, num_workers, in_memory)
        self.jitter = jitter
        self._max_shift = jitter

    def required_files(self) -> list[str]:
        raw = os.path.join(MNIST.__name__, "raw")
        return [os.path.join(raw, os.path.splitext(name)[0]) for name, _ in MNIST.resources]

    @staticmethod
    def _as_tensors(dataset: Any) -> tuple[Tensor, Tensor]:
        return dataset.data.unsqueeze(1), dataset.targets.long()
