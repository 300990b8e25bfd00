"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a frozen teacher's soft targets train a student."""

from typing import Any, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from lit_kd.losses import Distance, check_distance, check_temperature, soft_target_loss
from lit_kd.modules.base import BaseModule, check_num_classes
from lit_kd.modules.cache import TeacherOutputCache
from lit_kd.teacher import freeze, load_weights


class KDModule(BaseModule):
    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        teacher_checkpoint: Optional[str] = None,
        temperature: float = 4.0,
        distillation_weight: float = 0.9,
        distance: Distance = "kl",
        num_classes: Optional[int] = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: Optional[LRSchedulerCallable] = None,
        cache_teacher_outputs: bool = False,
    ) -> None:
        """Distil a frozen teacher into a student: ``loss = λ·soft_target_loss + (1 − λ)·CE(student, y)``.

        The teacher is frozen here, before any strategy wraps the model: it stays in eval mode (its batch-norm
        statistics and dropout never change), runs under ``no_grad``, is never given to the optimizer, and is
        left out of this module's checkpoints (they hold the student; the teacher comes from its own file).

        Subclasses change the objective by overriding ``distillation_loss`` (the soft-target term),
        ``hard_target_loss`` (the label term) or ``teacher_forward``.

        Args:
            student: the network to train; ``(N, num_classes)`` logits.
            teacher: the teacher's architecture (or a ready model, e.g. a torchvision model with pretrained
                weights). Its weights come from ``teacher_checkpoint`` when given.
            teacher_checkpoint: a checkpoint written by ``lit-kd fit`` with ``ClassifierModule`` (or a
                ``KDModule``, whose student then teaches), or a plain ``state_dict`` file. Loaded with
                ``weights_only=True`` and strictly: missing, unexpected or mis-shaped weights are an error.
            temperature: softmax temperature ``T > 0`` of the soft targets. Higher ``T`` exposes more of the
                teacher's similarities between classes; Hinton et al. used 20 on MNIST, CIFAR papers use 4.
            distillation_weight: ``λ`` in ``[0, 1]``, the weight of the soft-target loss; ``1 − λ`` weights the
                cross-entropy with the true labels.
            distance: ``"kl"`` (``T²·KL(p‖q)``), ``"soft_ce"`` (cross-entropy with the soft targets) or
                ``"mse"`` (squared error between the logits).
            num_classes: number of classes; the CLI links it from the datamodule. Student and teacher must both
                predict this many.
            optimizer: optimizer factory, called with the student's parameters only.
            lr_scheduler: optional learning-rate scheduler factory.
            cache_teacher_outputs: compute the teacher's logits once per training sample (keyed by dataset index)
                and reuse them in later epochs. Only correct without training augmentation, so it is refused
                when the datamodule augments its training inputs.
        """
        check_temperature(temperature)
        if not 0.0 <= distillation_weight <= 1.0:
            raise ValueError(f"`distillation_weight` must be in [0, 1], got {distillation_weight}")
        check_distance(distance)
        super().__init__(student, num_classes, optimizer, lr_scheduler)
        check_num_classes(teacher, self.num_classes, "the teacher", against="the student")
        if teacher_checkpoint is not None:
            load_weights(teacher, teacher_checkpoint)
        self.student = student
        self.teacher = freeze(teacher)
        self.temperature = temperature
        self.distillation_weight = distillation_weight
        self.distance = distance
        self.teacher_cache = TeacherOutputCache() if cache_teacher_outputs else None
        self.val_teacher_acc = MulticlassAccuracy(self.num_classes, average="micro")
        self.test_teacher_acc = MulticlassAccuracy(self.num_classes, average="micro")
        self._teacher_val_acc_logged = False
        self.save_hyperparameters(ignore=["student", "teacher", "optimizer", "lr_scheduler"])

    @property
    def network(self) -> nn.Module:
        return self.student

    # --- extension points -------------------------------------------------------------------------------------

    def teacher_forward(self, x: Tensor) -> Tensor:
        """The teacher's logits. ``no_grad`` rather than ``inference_mode``: inference tensors cannot enter a
        loss that autograd records."""
        with torch.no_grad():
            return self.teacher(x)

    def distillation_loss(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        """The soft-target term. Override to try another distance; keep the ``T²`` scaling if you use ``T``."""
        return soft_target_loss(student_logits, teacher_logits, self.temperature, self.distance)

    def hard_target_loss(self, student_logits: Tensor, targets: Tensor) -> Tensor:
        """The true-label term: cross-entropy at ``T = 1``."""
        return F.cross_entropy(student_logits.float(), targets)

    # --- training ---------------------------------------------------------------------------------------------

    def train(self, mode: bool = True) -> "KDModule":
        super().train(mode)
        self.teacher.eval()  # Lightning puts the whole module in train mode at each epoch; the teacher stays fixed
        return self

    def on_fit_start(self) -> None:
        if self.teacher_cache is not None:
            datamodule = getattr(self.trainer, "datamodule", None)
            if getattr(datamodule, "augments_training_inputs", False):
                raise ValueError(
                    "`cache_teacher_outputs=True` needs identical training inputs every epoch, but the datamodule "
                    f"{type(datamodule).__name__} augments them: turn its augmentation off or the cache off"
                )

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor]:
        x, y = batch[0], batch[1]
        student_logits = self.student(x)
        teacher_logits = self._teacher_logits(x, batch[2] if len(batch) > 2 else None)
        soft = self.distillation_loss(student_logits, teacher_logits)
        hard = self.hard_target_loss(student_logits, y)
        loss = self.distillation_weight * soft + (1.0 - self.distillation_weight) * hard
        self.log("train/loss", loss, prog_bar=True)
        # Detached copies for DistillationMonitor, which logs them without a second forward pass.
        return {
            "loss": loss,
            "soft_target_loss": soft.detach(),
            "hard_target_loss": hard.detach(),
            "student_logits": student_logits.detach(),
            "teacher_logits": teacher_logits.detach(),
        }

    def _teacher_logits(self, x: Tensor, indices: Optional[Tensor]) -> Tensor:
        if self.teacher_cache is None or indices is None:
            return self.teacher_forward(x)
        cached = self.teacher_cache.get(indices)
        if cached is not None:
            return cached
        logits = self.teacher_forward(x)
        self.teacher_cache.put(indices, logits)
        return logits

    # --- evaluation -------------------------------------------------------------------------------------------

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        # The teacher is fixed: its accuracy is logged once, as a reference line next to the student's.
        if not self._teacher_val_acc_logged:
            self.val_teacher_acc(self.teacher_forward(batch[0]), batch[1])
            self.log("val/teacher_acc", self.val_teacher_acc)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._teacher_val_acc_logged = True

    def test_step(self, batch: Any, batch_idx: int) -> None:
        super().test_step(batch, batch_idx)
        self.test_teacher_acc(self.teacher_forward(batch[0]), batch[1])
        self.log("test/teacher_acc", self.test_teacher_acc)

    # --- checkpoints ------------------------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The teacher is an input, not a result: keep checkpoints to the student.
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("teacher.")]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Re-insert the live teacher so that strict loading still catches a missing or extra *student* key.
        state = checkpoint["state_dict"]
        stale = [k for k in state if k.startswith("teacher.")]
        for key in stale:
            del state[key]
        state.update({f"teacher.{k}": v for k, v in self.teacher.state_dict().items()})
