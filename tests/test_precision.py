"""Precisions: the soft-target loss stays finite and close to float32 under bf16, and KD trains in each precision
Lightning offers on CPU (16-mixed is for GPUs: configs/trainer/gpu.yaml)."""

import math

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from helpers import trainer_kwargs
from lit_kd import KDModule
from lit_kd.data import DigitsDataModule
from lit_kd.losses import soft_target_loss
from lit_kd.models import MLP

TEMPERATURES = [1.0, 4.0, 20.0, 100.0]
SCALES = [1.0, 30.0, 1e3, 1e4]  # logits up to +-1e4


def logits_pair(scale: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    student = torch.randn(64, 10, generator=generator) * scale / 3
    teacher = torch.randn(64, 10, generator=generator) * scale / 3
    # The extremes themselves, so that +-1e4 is really reached.
    student[0, 0], teacher[0, 1] = scale, -scale
    return student.clamp(-scale, scale), teacher.clamp(-scale, scale)


def reference(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> float:
    """The loss in float64 on the same (possibly bf16-rounded) values."""
    return soft_target_loss(student.double(), teacher.double(), temperature).item()


def close(value: float, expected: float) -> bool:
    # Relative for large losses, absolute for tiny ones (float32 has ~7 digits).
    return math.isfinite(value) and abs(value - expected) <= 1e-4 * abs(expected) + 1e-3


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("scale", SCALES)
def test_loss_under_bf16_autocast_matches_float32(temperature, scale):
    student, teacher = logits_pair(scale)
    expected = reference(student, teacher, temperature)
    float32 = soft_target_loss(student, teacher, temperature).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        # A bf16 matmul in front, as in a network under autocast: its outputs are bf16.
        eye = torch.eye(10)
        student_bf16, teacher_bf16 = student @ eye, teacher @ eye
        assert student_bf16.dtype == torch.bfloat16
        autocast = soft_target_loss(student_bf16, teacher_bf16, temperature)
    assert autocast.dtype == torch.float32
    assert close(float32, expected)
    # Against the float64 loss of the values autocast actually produced: the loss adds no error of its own.
    assert close(autocast.item(), reference(student_bf16.float(), teacher_bf16.float(), temperature))


@pytest.mark.parametrize("temperature", TEMPERATURES)
@pytest.mark.parametrize("scale", SCALES)
def test_loss_of_bf16_logits_is_finite_and_matches_float32(temperature, scale):
    student, teacher = logits_pair(scale, seed=1)
    s16, t16 = student.bfloat16(), teacher.bfloat16()
    loss = soft_target_loss(s16, t16, temperature)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert close(loss.item(), reference(s16.float(), t16.float(), temperature))
    # What a naive bf16 computation would give: it is the float32 cast that keeps the loss accurate at high T.
    grad_student = s16.clone().requires_grad_(True)
    soft_target_loss(grad_student, t16, temperature).backward()
    assert torch.isfinite(grad_student.grad).all()


def test_naive_bf16_loss_would_be_wrong_at_high_temperature():
    # Guards the float32 cast: the same formula evaluated in bf16 is off by far more than our tolerance, so the
    # tests above would catch a loss that silently stopped upcasting.
    student, teacher = logits_pair(30.0, seed=2)
    s16, t16 = student.bfloat16(), teacher.bfloat16()
    temperature = 20.0
    log_q = torch.log_softmax(s16 / temperature, -1)
    log_p = torch.log_softmax(t16 / temperature, -1)
    naive = (log_p.exp() * (log_p - log_q)).sum(-1).mean() * temperature**2
    assert not close(naive.float().item(), reference(s16.float(), t16.float(), temperature))


class _LossRecorder(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))
        assert outputs["soft_target_loss"].dtype == torch.float32


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_kd_training_step_runs_in_precision(precision, tmp_path):
    student = MLP(in_features=64, hidden_sizes=(32,), num_classes=10)
    teacher = MLP(in_features=64, hidden_sizes=(64,), num_classes=10)
    module = KDModule(student, teacher, temperature=20.0)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    recorder = _LossRecorder()
    trainer = Trainer(
        **trainer_kwargs(tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=1, precision=precision),
        callbacks=[recorder],
    )
    trainer.fit(module, datamodule=DigitsDataModule(batch_size=32))
    assert len(recorder.losses) == 3 and all(math.isfinite(v) for v in recorder.losses)
    assert any(not torch.equal(before[k], v) for k, v in student.state_dict().items())  # it learnt
    assert all(torch.equal(teacher_before[k], v) for k, v in teacher.state_dict().items())  # the teacher did not
    assert math.isfinite(float(trainer.callback_metrics["val/acc"]))
