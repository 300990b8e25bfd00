"""Continual-learning metrics over an accuracy matrix (pure torch).

All functions take an accuracy matrix ``R`` of shape ``(T, T)`` where
``R[i, j]`` is the accuracy on task ``j`` measured after training task ``i``
(0-based). Entries above the diagonal (``j > i``, tasks not trained yet) are
conventionally NaN and are **ignored** whatever they hold; entries on or below
the diagonal are used as given, so a NaN there (a missing evaluation)
propagates into the result.

Every function accepts ``num_tasks_done`` (``t``) to evaluate a partially
filled matrix after ``t`` tasks: only the top-left ``t x t`` block is used,
which is the same as passing ``R[:t, :t]``. Scalars are returned as Python
floats (convenient for ``LightningModule.log``).
"""

from __future__ import annotations

import operator
from typing import Optional

import torch
from torch import Tensor

__all__ = [
    "final_average_accuracy",
    "average_incremental_accuracy",
    "average_forgetting",
    "backward_transfer",
    "accuracy_matrix_image",
]


def _block(R: Tensor, num_tasks_done: Optional[int]) -> Tensor:
    """Validate ``R`` and return its top-left ``t x t`` block in float64."""
    if not isinstance(R, Tensor):
        raise TypeError(f"R must be a torch.Tensor, got {type(R).__name__}")
    if R.dim() != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"R must be a square (T, T) matrix, got shape {tuple(R.shape)}")
    T = R.shape[0]
    if num_tasks_done is None:
        t = T
    else:
        if isinstance(num_tasks_done, bool):
            raise TypeError("num_tasks_done must be an int, got bool")
        t = operator.index(num_tasks_done)
        if not 1 <= t <= T:
            raise ValueError(f"num_tasks_done must be in [1, {T}], got {t}")
    if t == 0:
        raise ValueError("R must hold at least one task (got a 0 x 0 matrix)")
    return R[:t, :t].detach().to(torch.float64)


def final_average_accuracy(R: Tensor, num_tasks_done: Optional[int] = None) -> float:
    """Average accuracy over all tasks after the last task.

    ``A_T = (1/T) * sum_{j=0}^{T-1} R[T-1, j]``

    Source: Chaudhry et al., "Riemannian Walk for Incremental Learning:
    Understanding Forgetting and Intransigence", ECCV 2018 (average accuracy
    ``A_k``); also Lopez-Paz & Ranzato, "Gradient Episodic Memory for
    Continual Learning", NeurIPS 2017 (ACC).

    Args:
        R: ``(T, T)`` accuracy matrix.
        num_tasks_done: Use only the first ``t`` tasks (top-left block).

    Returns:
        The average accuracy.
    """
    B = _block(R, num_tasks_done)
    return float(B[-1].mean())


def average_incremental_accuracy(R: Tensor, num_tasks_done: Optional[int] = None) -> float:
    """Average of the average accuracies after each task.

    ``AIA = (1/T) * sum_{i=0}^{T-1} (1/(i+1)) * sum_{j=0}^{i} R[i, j]``

    Source: Rebuffi et al., "iCaRL: Incremental Classifier and Representation
    Learning", CVPR 2017 ("average incremental accuracy"). iCaRL averages the
    accuracy over all classes seen so far; that equals the mean over tasks
    used here when the tasks are equal-sized and evenly represented in the
    test set.

    Args:
        R: ``(T, T)`` accuracy matrix.
        num_tasks_done: Use only the first ``t`` tasks (top-left block).

    Returns:
        The average incremental accuracy.
    """
    B = _block(R, num_tasks_done)
    per_step = [B[i, : i + 1].mean() for i in range(B.shape[0])]
    return float(torch.stack(per_step).mean())


def average_forgetting(R: Tensor, num_tasks_done: Optional[int] = None) -> float:
    """Average forgetting of the earlier tasks after the last task.

    ``F_T = (1/(T-1)) * sum_{j=0}^{T-2} ( max_{i in [j, T-2]} R[i, j] - R[T-1, j] )``

    (the maximum runs over ``i < T-1``; entries with ``i < j`` are untrained
    and ignored, so it is effectively over ``j <= i <= T-2``).

    Source: Chaudhry et al., "Riemannian Walk for Incremental Learning:
    Understanding Forgetting and Intransigence", ECCV 2018, Eq. (forgetting
    measure ``F_k``).

    Args:
        R: ``(T, T)`` accuracy matrix.
        num_tasks_done: Use only the first ``t`` tasks (top-left block).

    Returns:
        The average forgetting (positive = forgotten). ``0.0`` when ``T == 1``:
        with no earlier task nothing can have been forgotten (this keeps logged
        curves finite from the first task on).
    """
    B = _block(R, num_tasks_done)
    T = B.shape[0]
    if T == 1:
        return 0.0
    drops = [B[j : T - 1, j].max() - B[T - 1, j] for j in range(T - 1)]
    return float(torch.stack(drops).mean())


def backward_transfer(R: Tensor, num_tasks_done: Optional[int] = None) -> float:
    """Backward transfer: influence of later tasks on the earlier ones.

    ``BWT = (1/(T-1)) * sum_{j=0}^{T-2} ( R[T-1, j] - R[j, j] )``

    Source: Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual
    Learning", NeurIPS 2017, Eq. (3).

    Args:
        R: ``(T, T)`` accuracy matrix.
        num_tasks_done: Use only the first ``t`` tasks (top-left block).

    Returns:
        The backward transfer (negative = forgetting). ``0.0`` when ``T == 1``
        (no earlier task), matching :func:`average_forgetting`.
    """
    B = _block(R, num_tasks_done)
    T = B.shape[0]
    if T == 1:
        return 0.0
    return float((B[T - 1, : T - 1] - torch.diagonal(B)[: T - 1]).mean())


# Viridis sampled at 0, 1/8, ..., 1 (matplotlib's colour map, 8-bit sRGB).
_VIRIDIS_ANCHORS = (
    (68, 1, 84),
    (71, 45, 123),
    (59, 82, 139),
    (44, 114, 142),
    (33, 145, 140),
    (40, 174, 128),
    (94, 201, 98),
    (173, 220, 48),
    (253, 231, 37),
)
_NAN_GREY = (128, 128, 128)


def _colormap(values: Tensor) -> Tensor:
    """Map values in ``[0, 1]`` (any shape) to RGB floats in ``[0, 255]``, shape ``(*, 3)``."""
    anchors = torch.tensor(_VIRIDIS_ANCHORS, dtype=torch.float64, device=values.device)
    pos = values.clamp(0.0, 1.0) * (anchors.shape[0] - 1)
    lo = pos.floor().long().clamp(max=anchors.shape[0] - 2)
    frac = (pos - lo.to(pos.dtype)).unsqueeze(-1)
    return anchors[lo] * (1.0 - frac) + anchors[lo + 1] * frac


def accuracy_matrix_image(R: Tensor, cell: int = 32, vmin: float = 0.0, vmax: float = 1.0) -> Tensor:
    """Render an accuracy matrix as a heatmap image (no matplotlib, no text).

    Each entry becomes a ``cell x cell`` square coloured with a viridis-like
    colour map (linear interpolation between 9 anchor colours sampled from
    matplotlib's viridis): dark purple at ``vmin``, yellow at ``vmax``; values
    outside are clamped. NaN entries (e.g. ``j > i``) are grey. Row ``i`` of
    ``R`` is image row block ``i`` (top to bottom), column ``j`` is column
    block ``j`` (left to right).

    Suitable for ``SummaryWriter.add_image(tag, img, step, dataformats="CHW")``.

    Args:
        R: ``(T, T')`` accuracy matrix (any 2-D shape).
        cell: Side of each square in pixels (>= 1).
        vmin: Value mapped to the first colour (e.g. 0 for fractions).
        vmax: Value mapped to the last colour (e.g. 1, or 100 for percentages).

    Returns:
        ``uint8`` tensor of shape ``(3, T * cell, T' * cell)`` on ``R.device``.

    Raises:
        ValueError: If ``R`` is not 2-D, ``cell < 1`` or ``vmax <= vmin``.
    """
    if not isinstance(R, Tensor) or R.dim() != 2:
        raise ValueError(f"R must be a 2-D tensor, got {getattr(R, 'shape', type(R).__name__)}")
    if isinstance(cell, bool) or operator.index(cell) < 1:
        raise ValueError(f"cell must be an int >= 1, got {cell!r}")
    cell = operator.index(cell)
    if not vmax > vmin:
        raise ValueError(f"vmax must be > vmin, got vmin={vmin}, vmax={vmax}")
    values = R.detach().to(torch.float64)
    nan = torch.isnan(values)
    scaled = ((values - vmin) / (vmax - vmin)).nan_to_num(0.0)
    rgb = _colormap(scaled)  # (T, T', 3)
    grey = torch.tensor(_NAN_GREY, dtype=rgb.dtype, device=rgb.device)
    rgb = torch.where(nan.unsqueeze(-1), grey, rgb)
    img = rgb.round().clamp(0, 255).to(torch.uint8).permute(2, 0, 1)  # (3, T, T')
    return img.repeat_interleave(cell, dim=1).repeat_interleave(cell, dim=2).contiguous()
