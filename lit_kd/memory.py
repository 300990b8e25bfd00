"""Exemplar memory for rehearsal-based continual learning (iCaRL).

This module is pure tensor code (no Lightning import):

* :func:`herding_selection` ranks the samples of one class by iCaRL's herding
  procedure (Rebuffi et al., "iCaRL: Incremental Classifier and Representation
  Learning", CVPR 2017, Algorithm 4).
* :class:`ExemplarMemory` stores, for every class, that ranking as *dataset
  indices* (integers into the training set, never images) under a fixed total
  budget ``memory_size``, and truncates the rankings when more classes arrive
  (iCaRL's Algorithm 5, "reduce exemplar set"). All state lives in persistent
  buffers of fixed shape, so it round-trips through ``state_dict()`` /
  ``load_state_dict()`` (strict) and Lightning checkpoints.
"""

from __future__ import annotations

import operator
from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["herding_selection", "ExemplarMemory"]


def _as_int(value: object, name: str) -> int:
    """Return ``value`` as a Python int, rejecting bools and non-integers."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        return operator.index(value)  # accepts int, numpy ints, 0-d int tensors
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None


def herding_selection(features: Tensor, num_exemplars: int) -> Tensor:
    """Rank samples by iCaRL herding (Rebuffi et al. 2017, Algorithm 4).

    Rows of ``features`` are L2-normalised first (``phi(x) = f(x) / ||f(x)||``;
    an all-zero row stays zero). With ``mu`` the mean of the normalised rows,
    the k-th pick (k = 1, 2, ...) is

    ``p_k = argmin_{x not yet chosen} || mu - (1/k) (phi(x) + sum_{j<k} phi(p_j)) ||``.

    Each step costs one matrix-vector product: multiplying the objective by
    ``k**2`` and writing ``t_k = k * mu - sum_{j<k} phi(p_j)`` gives
    ``||t_k - phi(x)||**2 = ||t_k||**2 - 2 phi(x).t_k + ||phi(x)||**2``, whose
    first term does not depend on ``x``. The loop runs over picks, never over
    samples, and never synchronises with the host (GPU friendly).

    The computation is done in float32 (inputs are cast; autocast is disabled)
    under ``torch.no_grad()``. Ties are broken towards the lowest row index, so
    the result is deterministic. A sample is never picked twice.

    Args:
        features: ``(n, d)`` feature matrix of the samples of one class.
        num_exemplars: How many samples to rank (``m >= 0``). If ``m >= n``
            all ``n`` rows are ranked.

    Returns:
        LongTensor of shape ``(min(num_exemplars, n),)`` on ``features.device``
        with distinct row indices in priority order (best exemplar first), so
        any prefix is the herding selection of that size.

    Raises:
        ValueError: If ``features`` is not 2-D or contains non-finite values,
            or if ``num_exemplars`` is negative.
        TypeError: If ``features`` is not a tensor or ``num_exemplars`` is not
            an integer.
    """
    if not isinstance(features, Tensor):
        raise TypeError(f"features must be a torch.Tensor, got {type(features).__name__}")
    if features.dim() != 2:
        raise ValueError(
            f"features must be a 2-D (num_samples, feature_dim) tensor, got shape {tuple(features.shape)}"
        )
    m = _as_int(num_exemplars, "num_exemplars")
    if m < 0:
        raise ValueError(f"num_exemplars must be >= 0, got {m}")

    n = features.shape[0]
    m = min(m, n)
    device = features.device
    chosen = torch.empty(m, dtype=torch.long, device=device)
    if m == 0:
        return chosen

    with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False):
        phi = features.detach().to(torch.float32)
        if not bool(torch.isfinite(phi).all()):
            raise ValueError("features must be finite (found NaN or inf)")
        phi = F.normalize(phi, p=2.0, dim=1)
        mu = phi.mean(dim=0)
        sq_norms = (phi * phi).sum(dim=1)  # 1 (or 0 for an all-zero row)
        taken = torch.zeros(n, dtype=torch.bool, device=device)
        running_sum = torch.zeros_like(mu)
        inf = torch.tensor(float("inf"), device=device)
        for k in range(1, m + 1):
            target = k * mu - running_sum
            # k^2 * objective, minus the candidate-independent ||target||^2.
            score = sq_norms - 2.0 * torch.mv(phi, target)
            score = torch.where(taken, inf, score)
            idx = torch.argmin(score)  # first occurrence on ties -> lowest index
            chosen[k - 1] = idx
            taken[idx] = True
            running_sum += phi[idx]
    return chosen


class ExemplarMemory(torch.nn.Module):
    """Fixed-budget exemplar memory holding herding rankings as dataset indices.

    The memory has a total budget of ``memory_size`` (K) exemplars shared by
    the seen classes. For every class it keeps the herding ranking, computed
    once when the class is added, as indices into the training dataset. When
    ``t`` classes have been seen, every class keeps the first ``K // t``
    entries of its ranking (iCaRL's "reduce exemplar set"): rankings are only
    ever truncated, never recomputed, so an earlier class' exemplars are a
    prefix of what it held before.

    State (all persistent buffers of fixed shape, so ``load_state_dict`` with
    ``strict=True`` into a fresh ``ExemplarMemory(memory_size, num_classes)``
    restores it exactly):

    * ``ranking``: ``(num_classes, memory_size)`` int64, each row the class'
      ranking in priority order, padded with ``-1``.
    * ``num_kept``: ``(num_classes,)`` int64, how many of the ranking are
      currently kept (the exemplar set is ``ranking[c, :num_kept[c]]``).
    * ``seen``: ``(num_classes,)`` bool, whether the class has been added.

    A ranking only needs to be as long as the per-class budget at the time the
    class is added (:meth:`per_class_budget`), since budgets only shrink as
    classes are added; longer rankings are cut to ``memory_size``.

    Note:
        ``len(memory)`` is the number of stored exemplars, so an empty memory
        is falsy; test ``memory is None`` rather than ``not memory``.

    Example:
        >>> mem = ExemplarMemory(memory_size=4, num_classes=3)
        >>> mem.add_classes({0: torch.tensor([7, 3, 9, 1])})
        >>> mem.indices().tolist()
        [7, 3, 9, 1]
        >>> mem.add_classes({1: torch.tensor([2, 5])})
        >>> mem.indices().tolist(), mem.labels().tolist()
        ([7, 3, 2, 5], [0, 0, 1, 1])
    """

    ranking: Tensor
    num_kept: Tensor
    seen: Tensor

    def __init__(self, memory_size: int, num_classes: int) -> None:
        """Create an empty memory.

        Args:
            memory_size: Total number of exemplars K over all classes (>= 1).
            num_classes: Total number of classes over all tasks (>= 1).

        Raises:
            ValueError: If ``memory_size < 1`` or ``num_classes < 1``.
        """
        super().__init__()
        memory_size = _as_int(memory_size, "memory_size")
        num_classes = _as_int(num_classes, "num_classes")
        if memory_size < 1:
            raise ValueError(f"memory_size must be >= 1, got {memory_size}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.memory_size = memory_size
        self.num_classes = num_classes
        self.register_buffer("ranking", torch.full((num_classes, memory_size), -1, dtype=torch.long))
        self.register_buffer("num_kept", torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer("seen", torch.zeros(num_classes, dtype=torch.bool))

    # ------------------------------------------------------------------ budget
    def per_class_budget(self, num_seen_classes: int) -> int:
        """Exemplars each class may keep when ``num_seen_classes`` classes are seen.

        Args:
            num_seen_classes: Number of classes sharing the budget (>= 1).

        Returns:
            ``memory_size // num_seen_classes``.

        Raises:
            ValueError: If ``num_seen_classes < 1``, or if
                ``memory_size < num_seen_classes`` (the budget cannot hold one
                exemplar per class).
        """
        t = _as_int(num_seen_classes, "num_seen_classes")
        if t < 1:
            raise ValueError(f"num_seen_classes must be >= 1, got {t}")
        if self.memory_size < t:
            raise ValueError(
                f"memory_size={self.memory_size} cannot hold one exemplar per class for "
                f"{t} seen classes; use memory_size >= {t}"
            )
        return self.memory_size // t

    def reduce(self, num_seen_classes: Optional[int] = None) -> int:
        """Truncate every seen class to its per-class budget (iCaRL Algorithm 5).

        Each seen class keeps ``min(len(ranking), memory_size // t)`` of its
        ranking, where ``t = num_seen_classes``. Only ``num_kept`` changes; the
        stored rankings are untouched.

        Args:
            num_seen_classes: Number of classes sharing the budget. Defaults to
                the number of classes added so far.

        Returns:
            The per-class budget that was applied.

        Raises:
            ValueError: See :meth:`per_class_budget`.
        """
        if num_seen_classes is None:
            num_seen_classes = max(len(self.classes), 1)
        budget = self.per_class_budget(num_seen_classes)
        ranked_len = (self.ranking >= 0).sum(dim=1)
        kept = torch.clamp(ranked_len, max=budget)
        self.num_kept.copy_(torch.where(self.seen, kept, torch.zeros_like(kept)))
        return budget

    # ----------------------------------------------------------------- writing
    def add_classes(self, ranked: Mapping[int, Tensor], num_seen_classes: Optional[int] = None) -> None:
        """Add new classes with their herding rankings, then :meth:`reduce`.

        Arguments are fully validated before anything is written, so a failed
        call leaves the memory unchanged.

        Args:
            ranked: Maps each new class id to a 1-D integer tensor of dataset
                indices in priority order (e.g. ``dataset_idx[herding_selection(...)]``).
                Entries must be distinct and non-negative. Entries beyond
                ``memory_size`` are dropped.
            num_seen_classes: Number of classes sharing the budget after this
                call. Defaults to the number of classes added so far,
                including these.

        Raises:
            ValueError: If a class id is out of range or already added, a
                ranking is malformed, or the budget is too small (see
                :meth:`per_class_budget`).
        """
        rows = {}
        for cls, idx in ranked.items():
            c = _as_int(cls, "class id")
            if not 0 <= c < self.num_classes:
                raise ValueError(f"class id must be in [0, {self.num_classes}), got {c}")
            if c in rows or bool(self.seen[c]):
                raise ValueError(f"class {c} is already in the memory; rankings are computed once")
            idx = torch.as_tensor(idx)
            if idx.dim() != 1:
                raise ValueError(f"ranking of class {c} must be 1-D, got shape {tuple(idx.shape)}")
            if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
                raise ValueError(f"ranking of class {c} must be an integer tensor, got {idx.dtype}")
            idx = idx.to(device=self.ranking.device, dtype=torch.long)
            if idx.numel() and int(idx.min()) < 0:
                raise ValueError(f"ranking of class {c} must hold non-negative dataset indices")
            if torch.unique(idx).numel() != idx.numel():
                raise ValueError(f"ranking of class {c} must hold distinct dataset indices")
            rows[c] = idx[: self.memory_size]
        total_seen = len(self.classes) + len(rows)
        self.per_class_budget(num_seen_classes if num_seen_classes is not None else max(total_seen, 1))
        for c, idx in rows.items():
            self.ranking[c].fill_(-1)
            self.ranking[c, : idx.numel()] = idx
            self.seen[c] = True
        self.reduce(num_seen_classes)

    def add_class(self, cls: int, ranked_dataset_indices: Tensor, num_seen_classes: Optional[int] = None) -> None:
        """Add one class; shorthand for ``add_classes({cls: ranked_dataset_indices})``.

        Args:
            cls: Class id in ``[0, num_classes)``.
            ranked_dataset_indices: 1-D dataset indices in priority order.
            num_seen_classes: See :meth:`add_classes`.
        """
        self.add_classes({cls: ranked_dataset_indices}, num_seen_classes=num_seen_classes)

    # ----------------------------------------------------------------- reading
    @property
    def classes(self) -> list[int]:
        """Ids of the classes added so far, ascending."""
        return torch.nonzero(self.seen).flatten().tolist()

    def indices(self, cls: Optional[int] = None) -> Tensor:
        """Dataset indices of the kept exemplars.

        Args:
            cls: A class id, or ``None`` for all classes.

        Returns:
            1-D LongTensor. For one class: its kept exemplars in priority
            order (empty if the class was not added). For all classes: the
            per-class sets concatenated in ascending class order, aligned with
            :meth:`labels`.
        """
        if cls is not None:
            c = _as_int(cls, "cls")
            if not 0 <= c < self.num_classes:
                raise ValueError(f"cls must be in [0, {self.num_classes}), got {c}")
            return self.ranking[c, : int(self.num_kept[c])].clone()
        keep = torch.arange(self.memory_size, device=self.ranking.device) < self.num_kept[:, None]
        return self.ranking[keep]  # row-major: class order, then priority order

    def labels(self) -> Tensor:
        """Class id of every entry of ``indices()`` (same order and length).

        Returns:
            1-D LongTensor of class ids.
        """
        return torch.repeat_interleave(torch.arange(self.num_classes, device=self.num_kept.device), self.num_kept)

    def __len__(self) -> int:
        """Total number of exemplars currently kept."""
        return int(self.num_kept.sum())

    def extra_repr(self) -> str:
        return f"memory_size={self.memory_size}, num_classes={self.num_classes}, stored={len(self)}"
