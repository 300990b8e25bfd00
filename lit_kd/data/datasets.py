"""Datasets whose items are ``(input, target, index)`` and the collate function that batches them.

The index is what teacher-output caches and exemplar memories key on, so it is always the position of the sample
in its split's dataset, also when a :class:`~torch.utils.data.Subset` is drawn from that dataset.
"""

from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

Batch = tuple[Tensor, Tensor, Tensor]


class InMemoryDataset(Dataset):
    r"""A classification split held as two tensors, served a whole batch per call.

    ``__getitems__`` lets the DataLoader fetch a batch with one indexing operation instead of ``batch_size``
    ``__getitem__`` calls and a stack, which is what makes small-image datasets fast. A
    :class:`~torch.utils.data.Subset` of it forwards ``__getitems__`` with its indices remapped, so batches of a
    subset carry the indices of *this* dataset.

    Example:
        >>> ds = InMemoryDataset(torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
        >>> x, y, idx = ds.__getitems__([3, 1])
        >>> x.shape, y.tolist(), idx.tolist()
        (torch.Size([2, 1, 2, 2]), [1, 1], [3, 1])
    """

    def __init__(self, inputs: Tensor, targets: Tensor) -> None:
        """Hold a split as two tensors (not copied).

        Args:
            inputs: ``(N, C, H, W)`` tensor, ``uint8`` (scaled to ``[0, 1]`` on the device) or floating point.
            targets: ``(N,)`` integer class labels.
        """
        if inputs.ndim != 4:
            raise ValueError(f"`inputs` must have shape (N, C, H, W), got {tuple(inputs.shape)}")
        if targets.ndim != 1 or len(targets) != len(inputs):
            raise ValueError(f"`targets` must have shape ({len(inputs)},), got {tuple(targets.shape)}")
        if targets.is_floating_point() or targets.is_complex():
            raise ValueError(f"`targets` must hold integer class labels, got dtype {targets.dtype}")
        self.inputs = inputs
        self.targets = targets.long()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, int]:
        index = int(index)
        if index < 0:
            index += len(self)
        return self.inputs[index], self.targets[index], index

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.inputs[idx], self.targets[idx], idx


class IndexedDataset(Dataset):
    """Per-sample view of a ``(image, target)`` dataset that applies a transform and returns ``(x, y, index)``.

    Used by the ``in_memory=False`` path: any torchvision dataset and per-sample transform work, at the usual
    per-sample cost.
    """

    def __init__(
        self,
        dataset: Dataset,
        targets: Union[Sequence[int], Tensor],
        indices: Optional[Union[Sequence[int], Tensor]] = None,
        transform: Optional[Callable[[Any], Tensor]] = None,
    ) -> None:
        """View ``dataset`` (or its ``indices``) with per-sample ``transform``.

        Args:
            dataset: dataset whose items are ``(image, target)``, e.g. a torchvision dataset without a transform.
            targets: every target of ``dataset``, in order (e.g. ``dataset.targets``).
            indices: positions in ``dataset`` that form this split; ``None`` takes all of them. Item ``i`` of this
                view is ``dataset[indices[i]]`` and carries index ``i``.
            transform: applied to each image, e.g. ``ToTensor`` + ``Normalize``.
        """
        targets = torch.as_tensor(targets, dtype=torch.long)
        self.dataset = dataset
        self.indices = torch.arange(len(targets)) if indices is None else torch.as_tensor(indices, dtype=torch.long)
        self.targets = targets[self.indices]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        index = int(index)
        if index < 0:
            index += len(self)
        image, target = self.dataset[int(self.indices[index])]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(target), index


def collate(batch: Union[Batch, list[Any]]) -> Any:
    """Collate for datasets that may already return whole batches.

    A tuple whose last element is a 1-D index tensor came from ``__getitems__`` and is passed through; anything
    else is a list of samples (e.g. from a ``ConcatDataset`` or :class:`IndexedDataset`) and goes to
    ``default_collate`` (whose list output is turned into a tuple, so that every path gives the same type).
    Module-level so that DataLoader workers can pickle it.
    """
    if isinstance(batch, tuple) and len(batch) == 3 and isinstance(batch[2], Tensor) and batch[2].ndim == 1:
        return batch
    out = default_collate(batch)
    return tuple(out) if isinstance(out, list) else out
