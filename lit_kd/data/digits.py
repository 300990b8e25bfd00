"""scikit-learn's bundled 8x8 digits: 1797 images, available offline, for quick experiments and tests."""

import numpy as np
import torch

from lit_kd.data.base import ClassificationDataModule
from lit_kd.data.datasets import InMemoryDataset


class DigitsDataModule(ClassificationDataModule):
    """The UCI handwritten digits that ship with scikit-learn (``sklearn.datasets.load_digits``).

    Inputs are ``(N, 1, 8, 8)``: pixel values 0..16 divided by 16, then normalised with the mean and standard
    deviation of the training split (available as ``mean`` / ``std`` after ``setup``). The three splits are
    stratified by class and drawn with ``seed``. There is no augmentation, and since the data ships with
    scikit-learn there is no ``data_dir`` or ``download`` argument and always the in-memory path.

    Example:
        >>> dm = DigitsDataModule(batch_size=32)
        >>> dm.setup()
        >>> len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)
        (1079, 359, 359)
    """

    num_samples = 1797
    num_classes = 10
    input_shape = (1, 8, 8)

    def __init__(
        self,
        batch_size: int = 64,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        """Stratified train/val/test splits of the 1797 digits, drawn with ``seed``.

        Args:
            batch_size: samples per batch for every split.
            val_fraction: share of the 1797 images in the validation split, in (0, 1).
            test_fraction: share of the 1797 images in the test split, in (0, 1); ``val_fraction + test_fraction``
                must be below 1.
            seed: seed of the stratified split.
            num_workers: DataLoader worker processes; 0 is fastest here.
        """
        super().__init__(batch_size=batch_size, num_workers=num_workers, in_memory=True, seed=seed)
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"`{name}` must be in (0, 1), got {value}")
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"`val_fraction` + `test_fraction` must be below 1 to leave training data, got "
                f"{val_fraction} + {test_fraction}"
            )
        # Counts of the whole set (not of what is left after the first split), so the fractions mean what they say.
        self._num_val = round(val_fraction * self.num_samples)
        self._num_test = round(test_fraction * self.num_samples)
        for name, count in (("val_fraction", self._num_val), ("test_fraction", self._num_test)):
            if count < self.num_classes:
                raise ValueError(f"`{name}` leaves {count} samples, fewer than one per class; increase it")
        if self.num_samples - self._num_val - self._num_test < self.num_classes:
            raise ValueError("`val_fraction` + `test_fraction` leave fewer training samples than classes")
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def _setup_datasets(self) -> None:
        # Imported here: scikit-learn is only needed by this datamodule.
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        inputs = torch.from_numpy(digits.images).float().div_(16).unsqueeze(1)
        targets = torch.from_numpy(digits.target).long()
        labels = digits.target
        rest, test = train_test_split(
            np.arange(len(labels)), test_size=self._num_test, stratify=labels, random_state=self.seed
        )
        train, val = train_test_split(rest, test_size=self._num_val, stratify=labels[rest], random_state=self.seed)
        split = {name: torch.from_numpy(np.sort(idx)) for name, idx in (("train", train), ("val", val), ("test", test))}
        self.source_indices = split

        train_inputs = inputs[split["train"]]
        self.mean = (train_inputs.mean().item(),)
        self.std = (train_inputs.std().item(),)
        self.train_dataset = InMemoryDataset(train_inputs, targets[split["train"]])
        self.val_dataset = InMemoryDataset(inputs[split["val"]], targets[split["val"]])
        self.test_dataset = InMemoryDataset(inputs[split["test"]], targets[split["test"]])
