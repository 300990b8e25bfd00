"""Plain supervised training: teachers and from-scratch baselines."""

from typing import Any, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lit_kd.modules.base import BaseModule


class ClassifierModule(BaseModule):
    def __init__(
        self,
        model: nn.Module,
        num_classes: Optional[int] = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: Optional[LRSchedulerCallable] = None,
    ) -> None:
        """Train a classifier with cross-entropy: the teacher, or the student from scratch as a baseline.

        It logs the same metrics as ``KDModule`` (``val/acc``, ``test/acc``), so the scratch student and the
        distilled one compare fairly. Its checkpoints can be loaded as a teacher (``KDModule.teacher_checkpoint``).

        Args:
            model: the network, any ``nn.Module`` mapping inputs to ``(N, num_classes)`` logits.
            num_classes: number of classes; the CLI links it from the datamodule, and a model with another
                number of outputs is an error.
            optimizer: optimizer factory, called with the model's parameters.
            lr_scheduler: optional learning-rate scheduler factory, called with the optimizer.
        """
        super().__init__(model, num_classes, optimizer, lr_scheduler)
        self.model = model
        self.save_hyperparameters(ignore=["model", "optimizer", "lr_scheduler"])

    @property
    def network(self) -> nn.Module:
        return self.model

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        loss = F.cross_entropy(self(x).float(), y)
        self.log("train/loss", loss, prog_bar=True)
        return loss
