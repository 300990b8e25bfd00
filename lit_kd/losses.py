"""Distillation losses as pure functions: logits in, scalar loss out.

Convention used everywhere in lit-kd (Hinton, Vinyals & Dean 2015):

* soft targets ``p = softmax(z_teacher / T)``, student ``q = softmax(z_student / T)``;
* distillation loss ``T² · KL(p ‖ q)``, averaged over the batch. The ``T²`` factor keeps the gradient's scale
  independent of ``T`` (the gradient of the KL term alone shrinks as ``1 / T²``).

All losses compute in float32, whatever the logits' dtype: under bf16 autocast a softmax at high ``T`` rounds away
the small probabilities that carry the "dark knowledge".
"""

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

Distance = Literal["kl", "soft_ce", "mse"]
DISTANCES = ("kl", "soft_ce", "mse")


def soft_targets(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Class probabilities ``softmax(logits / T)`` along the last dimension, in float32."""
    check_temperature(temperature)
    return F.softmax(logits.float() / temperature, dim=-1)


def soft_target_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 1.0,
    distance: Distance = "kl",
    mask: Optional[Tensor] = None,
) -> Tensor:
    """Distillation loss between student and teacher logits.

    Args:
        student_logits: ``(N, C)`` or ``(N, L, C)`` logits of the student.
        teacher_logits: logits of the teacher, same shape. Treated as constants (detached).
        temperature: softmax temperature ``T > 0``.
        distance: ``"kl"`` for ``T²·KL(p‖q)`` (the default), ``"soft_ce"`` for ``T²·H(p, q)``, the cross-entropy
            against the soft targets as LwF writes it (it differs from ``"kl"`` by the teacher's entropy, a
            constant, so the gradients are equal), or ``"mse"`` for the mean squared error between the logits
            (Ba & Caruana 2014; ``temperature`` is ignored).
        mask: optional boolean ``(N, L)`` mask of the positions that count, for token-level distillation of
            ``(N, L, C)`` logits.

    Returns:
        A float32 scalar: the mean over the batch (and over the unmasked positions of sequence logits).
    """
    check_distance(distance)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits differ in shape: {tuple(student_logits.shape)} vs "
            f"{tuple(teacher_logits.shape)} (do the two models have the same number of classes?)"
        )
    if student_logits.dim() not in (2, 3):
        raise ValueError(f"logits must be (N, C) or (N, L, C), got shape {tuple(student_logits.shape)}")
    check_temperature(temperature)
    s = student_logits.float()
    t = teacher_logits.detach().float()
    if distance == "mse":
        per_position = (s - t).pow(2).mean(-1)
    else:
        log_q = F.log_softmax(s / temperature, dim=-1)
        log_p = F.log_softmax(t / temperature, dim=-1)
        p = log_p.exp()
        # xlogy-style guard: where p == 0 the term is 0, not 0 * -inf.
        cross = -(p * log_q).sum(-1)
        per_position = cross if distance == "soft_ce" else cross + (p * log_p).nan_to_num().sum(-1)
        per_position = per_position * temperature**2
    return _masked_mean(per_position, mask)


def sigmoid_distillation_loss(logits: Tensor, targets: Tensor, old_logits: Tensor, num_old_classes: int) -> Tensor:
    """iCaRL's classification-plus-distillation loss (Rebuffi et al. 2017, Algorithm 3).

    Binary cross-entropy over every class seen so far: new classes get one-hot targets, the old classes' targets
    are replaced by the previous model's sigmoid outputs.

    Args:
        logits: ``(N, C)`` current logits over the classes seen so far (unseen classes already removed).
        targets: ``(N,)`` integer labels in ``[0, C)``.
        old_logits: ``(N, C_old)`` logits of the previous model over the old classes.
        num_old_classes: ``C_old``, the number of classes before this task (0 for the first task).

    Returns:
        The BCE summed over classes and averaged over the batch, in float32.
    """
    logits = logits.float()
    binary = F.one_hot(targets, logits.shape[-1]).float()
    if num_old_classes > 0:
        binary[:, :num_old_classes] = torch.sigmoid(old_logits[:, :num_old_classes].detach().float())
    return F.binary_cross_entropy_with_logits(logits, binary, reduction="none").sum(-1).mean()


def _masked_mean(values: Tensor, mask: Optional[Tensor]) -> Tensor:
    if mask is None:
        return values.mean()
    if mask.shape != values.shape:
        raise ValueError(f"`mask` must have shape {tuple(values.shape)}, got {tuple(mask.shape)}")
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def check_temperature(temperature: float) -> None:
    """Raise ``ValueError`` naming ``temperature`` unless it is > 0 (modules call it at construction)."""
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature}")


def check_distance(distance: str) -> None:
    """Raise ``ValueError`` naming ``distance`` unless it is one of ``DISTANCES``."""
    if distance not in DISTANCES:
        raise ValueError(f"`distance` must be one of {DISTANCES}, got {distance!r}")
