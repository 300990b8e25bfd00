"""Learning without Forgetting (Li & Hoiem 2017)."""

from typing import Any, Optional

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lit_kd.losses import Distance, check_distance, check_temperature, soft_target_loss
from lit_kd.modules.continual import ContinualModule, Scenario


class LwFModule(ContinualModule):
    keeps_old_model = True

    def __init__(
        self,
        model: nn.Module,
        temperature: float = 2.0,
        distillation_weight: float = 1.0,
        scenario: Scenario = "task",
        distance: Distance = "kl",
        num_classes: Optional[int] = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: Optional[LRSchedulerCallable] = None,
    ) -> None:
        """LwF: ``loss = CE(new task) + λ·soft_target_loss(model, old model)`` on the new task's data.

        At the first epoch of every task after the first, the model is copied into a frozen old model (the
        teacher). Its outputs for the old classes, computed on the *new* data, are distilled into the model: per
        old task head, averaged over the old tasks, in the task-incremental scenario; over all old classes
        jointly in the class-incremental one.

        Args:
            model: the network; its head covers all classes of the sequence.
            temperature: softmax temperature of the distillation (Li & Hoiem and van de Ven & Tolias use 2).
            distillation_weight: ``λ >= 0``, the weight of the distillation term.
            scenario: ``"task"`` (multi-head, task id known) or ``"class"`` (single head over seen classes).
            distance: ``"kl"`` (``T²·KL``), ``"soft_ce"`` (Li & Hoiem's cross-entropy form, same gradients) or
                ``"mse"``.
            num_classes: classes over all tasks; the CLI links it from the datamodule.
            optimizer: optimizer factory, called with the model's parameters.
            lr_scheduler: optional learning-rate scheduler factory.
        """
        check_temperature(temperature)
        if not distillation_weight >= 0:
            raise ValueError(f"`distillation_weight` must be >= 0, got {distillation_weight}")
        check_distance(distance)
        super().__init__(model, scenario, num_classes, optimizer, lr_scheduler)
        self.temperature = temperature
        self.distillation_weight = distillation_weight
        self.distance = distance

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        logits = self.model(x)
        loss = self.classification_loss(logits, y)
        self.log("train/classification_loss", loss)
        task = self.current_task
        if task > 0:
            distill = self.distillation_loss(logits, self.old_model_forward(x), task)
            self.log("train/soft_target_loss", distill)
            loss = loss + self.distillation_weight * distill
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def distillation_loss(self, logits: Tensor, old_logits: Tensor, task: int) -> Tensor:
        """Distillation of the old model's outputs over the old tasks' classes."""
        if self.scenario == "task":
            heads = [self.task_slice(t) for t in range(task)]
            losses = [
                soft_target_loss(logits[:, h], old_logits[:, h], self.temperature, self.distance) for h in heads
            ]
            return torch.stack(losses).mean()
        old = self.task_slice(task).start
        return soft_target_loss(logits[:, :old], old_logits[:, :old], self.temperature, self.distance)
