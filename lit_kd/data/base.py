"""Base LightningDataModule for image classification with the ``(inputs, targets, indices)`` batch contract."""

from typing import Any, Optional

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities.types import EVAL_DATALOADERS, TRAIN_DATALOADERS
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler

from lit_kd.data.datasets import InMemoryDataset, collate
from lit_kd.data.transforms import normalize, random_horizontal_flip, random_translate


class EpochSeededRandomSampler(RandomSampler):
    """A random order that depends only on the global seed and the epoch.

    Lightning calls ``set_epoch`` at every epoch, a resumed run included, so it replays the order an uninterrupted
    run would see. Being a ``RandomSampler``, it is replaced by Lightning's ``DistributedSampler`` (itself seeded
    by epoch) under DDP.
    """

    def __init__(self, data_source: Dataset) -> None:
        super().__init__(data_source)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):  # type: ignore[override]
        seed = (torch.initial_seed() * 1_000_003 + self.epoch) % 2**63
        generator = torch.Generator().manual_seed(seed)
        return iter(torch.randperm(len(self.data_source), generator=generator).tolist())


def check_int(name: str, value: Any, minimum: int) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")


class ClassificationDataModule(LightningDataModule):
    """Train/val/test splits of an image-classification dataset, served as ``(inputs, targets, indices)``.

    * ``inputs``: float ``(N, C, H, W)``, normalised; ``targets``: int64 ``(N,)``; ``indices``: int64 ``(N,)``, the
      position of each sample in its split's dataset (``train_dataset``, ``val_dataset`` or ``test_dataset``).
    * In-memory path (``in_memory=True``): the splits are :class:`~lit_kd.data.InMemoryDataset` s of raw pixels, a
      batch is fetched with one indexing operation (on the GPU when training on one with ``num_workers=0``: the
      inputs are moved there at setup), and scaling to ``[0, 1]``, train-time augmentation and
      normalisation run batched on the device in :meth:`on_after_batch_transfer`. This hook only runs when the
      datamodule is given to the Trainer (``trainer.fit(model, datamodule=dm)``); elsewhere call
      :meth:`preprocess` on the raw inputs.
    * Per-sample path (``in_memory=False``): the usual per-sample torchvision transforms; batches arrive ready and
      :meth:`on_after_batch_transfer` leaves them alone.

    ``predict_dataloader`` serves the test split. Subclasses set ``num_classes``, ``input_shape``, ``mean``,
    ``std`` and ``_max_shift`` / ``_hflip`` (train-time augmentation), and implement :meth:`_setup_datasets`.
    """

    num_classes: int
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = False,
        batch_size: int = 64,
        num_workers: int = 0,
        in_memory: bool = True,
        seed: int = 0,
    ) -> None:
        """Common settings of every lit-kd datamodule.

        Args:
            data_dir: directory that holds (or will receive) the dataset files.
            download: download missing files in ``prepare_data``; when False, missing files fail at construction.
            batch_size: samples per batch for every split.
            num_workers: DataLoader worker processes; 0 loads in the main process, which is fastest for the
                in-memory path.
            in_memory: batched on-device preprocessing (fast, see the class docstring); False selects per-sample
                transforms.
            seed: seed of the train/validation split. Shuffling follows the global seed (``seed_everything``)
                and the epoch; augmentation follows the global RNG.
        """
        super().__init__()
        check_int("batch_size", batch_size, 1)
        check_int("num_workers", num_workers, 0)
        self.data_dir = data_dir
        self.download = download
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.in_memory = in_memory
        self.seed = seed
        self._max_shift = 0
        self._hflip = False
        self.train_dataset: Optional[Dataset] = None
        self.val_dataset: Optional[Dataset] = None
        self.test_dataset: Optional[Dataset] = None
        # Position of every split sample in the dataset it was drawn from, for reproducibility checks.
        self.source_indices: dict[str, Tensor] = {}
        self._is_setup = False
        self._stats_cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {}

    @property
    def augments_training_inputs(self) -> bool:
        """Whether training inputs are randomly augmented, i.e. differ from epoch to epoch."""
        return self._max_shift > 0 or self._hflip

    def _setup_datasets(self) -> None:
        """Build ``train_dataset``, ``val_dataset`` (``None`` for no validation) and ``test_dataset``."""
        raise NotImplementedError

    def setup(self, stage: Optional[str] = None) -> None:
        # Lightning calls setup once per entry point (fit, then test, ...); the splits are built once.
        if not self._is_setup:
            self._setup_datasets()
            self._stats_cache.clear()
            self._is_setup = True
        self._move_to_accelerator()

    def _move_to_accelerator(self) -> None:
        # With the data on the GPU a batch is one gather there: no host-to-device copy per step. Inputs only (the
        # targets stay on the host for index bookkeeping), and only in-process: workers cannot share CUDA tensors.
        device = self.trainer.strategy.root_device if self.trainer is not None else None
        if not self.in_memory or self.num_workers > 0 or device is None or device.type != "cuda":
            return
        for dataset in (self.train_dataset, self.val_dataset, self.test_dataset):
            if isinstance(dataset, InMemoryDataset):
                dataset.inputs = dataset.inputs.to(device)

    def _split(self, name: str) -> Optional[Dataset]:
        self.setup()
        return getattr(self, f"{name}_dataset")

    def train_targets(self) -> Tensor:
        """Targets of the whole training split, ``targets[i]`` being the label of ``train_dataset[i]``."""
        return self._split("train").targets

    def _dataloader(self, dataset: Dataset, train: bool, **kwargs: Any) -> DataLoader:
        """A DataLoader over ``dataset`` (a split or a Subset of one) with this datamodule's settings.

        Plain DataLoader arguments, so that Lightning can swap in a ``DistributedSampler``; ``kwargs`` override
        them (e.g. ``batch_size``, ``drop_last``).
        """
        options = dict(
            batch_size=self.batch_size,
            sampler=EpochSeededRandomSampler(dataset) if train else None,
            num_workers=self.num_workers,
            collate_fn=collate,
            persistent_workers=self.num_workers > 0,
            # Its own generator, so iterating a loader (sanity checks included) never draws from the global RNG
            # that dropout and augmentation use: a resumed run then replays the same random numbers.
            generator=torch.Generator().manual_seed(torch.initial_seed() % 2**63),
        )
        options.update(kwargs)
        return DataLoader(dataset, **options)

    def train_dataloader(self) -> TRAIN_DATALOADERS:
        return self._dataloader(self._split("train"), train=True)

    def val_dataloader(self) -> EVAL_DATALOADERS:
        dataset = self._split("val")
        # An empty list makes Lightning skip validation.
        return [] if dataset is None else self._dataloader(dataset, train=False)

    def test_dataloader(self) -> EVAL_DATALOADERS:
        return self._dataloader(self._split("test"), train=False)

    def predict_dataloader(self) -> EVAL_DATALOADERS:
        return self._dataloader(self._split("test"), train=False)

    def _stats(self, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        key = (device, dtype)
        if key not in self._stats_cache:
            # Built once per device: a fresh host-to-device copy every batch would be wasted work.
            self._stats_cache[key] = tuple(  # type: ignore[assignment]
                torch.tensor(v, dtype=dtype, device=device) for v in (self.mean, self.std)
            )
        return self._stats_cache[key]

    def preprocess(self, inputs: Tensor, train: bool = False) -> Tensor:
        """Turn raw in-memory inputs into network inputs: scale, augment when ``train``, normalise.

        Args:
            inputs: ``(N, C, H, W)`` batch from an in-memory split; ``uint8`` is divided by 255, floating point is
                taken to be in ``[0, 1]`` already.
            train: apply the train-time augmentation.
        """
        x = inputs.float().div_(255) if not inputs.is_floating_point() else inputs
        if train:
            # Before normalisation, so that the translation's zero fill is black as in RandomCrop's padding.
            x = random_translate(x, self._max_shift)
            if self._hflip:
                x = random_horizontal_flip(x)
        return normalize(x, *self._stats(x.device, x.dtype))

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if not self.in_memory:
            return batch
        inputs, *rest = batch
        train = self.trainer is not None and self.trainer.training
        return (self.preprocess(inputs, train=train), *rest)
