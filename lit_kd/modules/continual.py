"""A task sequence inside one ``fit``: the logic LwF, iCaRL and the fine-tuning baseline share."""

import copy
from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics import Metric

from lit_kd.modules.base import BaseModule
from lit_kd.teacher import freeze

Scenario = Literal["class", "task"]


class TaskAccuracy(Metric):
    """Top-1 accuracy of each task, synchronised over ranks like any torchmetrics metric."""

    def __init__(self, max_tasks: int) -> None:
        super().__init__()
        self.add_state("correct", torch.zeros(max_tasks), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(max_tasks), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, task_ids: Tensor) -> None:
        n = len(self.total)
        self.correct += torch.bincount(task_ids, weights=(preds == target).float(), minlength=n)[:n]
        self.total += torch.bincount(task_ids, minlength=n)[:n].float()

    def compute(self) -> Tensor:
        """``(max_tasks,)`` accuracies; NaN for tasks without samples."""
        return self.correct / self.total


class ContinualModule(BaseModule):
    # Subclasses that distil from the previous model set this; the copy is allocated once, in __init__.
    keeps_old_model = False

    def __init__(
        self,
        model: nn.Module,
        scenario: Scenario = "class",
        num_classes: Optional[int] = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: Optional[LRSchedulerCallable] = None,
    ) -> None:
        """Learn a sequence of tasks with plain cross-entropy: the fine-tuning baseline (no defence against
        forgetting), and with ``ClassIncrementalDataModule(cumulative=True)`` the joint-training upper bound.

        Train it with ``ClassIncrementalDataModule``: task ``t`` runs in epochs
        ``[t·epochs_per_task, (t+1)·epochs_per_task)``. The classifier head covers every class from the start,
        and the logits of classes the scenario excludes are masked, so no layer grows mid-fit.

        Args:
            model: the network; its head must cover all classes of the sequence.
            scenario: ``"class"`` (class-incremental: one head over all classes seen so far, the task unknown at
                test time) or ``"task"`` (task-incremental: the task id is given, each task has its own head,
                realised as that task's slice of the logits).
            num_classes: classes over all tasks; the CLI links it from the datamodule.
            optimizer: optimizer factory, called with the model's parameters.
            lr_scheduler: optional learning-rate scheduler factory.
        """
        if scenario not in ("class", "task"):
            raise ValueError(f"`scenario` must be 'class' or 'task', got {scenario!r}")
        super().__init__(model, num_classes, optimizer, lr_scheduler)
        self.model = model
        self.scenario = scenario
        if self.keeps_old_model:
            self.old_model = freeze(copy.deepcopy(model))
        c = self.num_classes
        # Fixed-shape state, so that a checkpoint taken in any task loads strictly and resumes there.
        self.register_buffer("class_to_task", torch.full((c,), -1, dtype=torch.long))
        self.register_buffer("num_seen_tasks", torch.zeros((), dtype=torch.long))
        self.register_buffer("accuracy_matrix", torch.full((c, c), float("nan")))
        self.val_task_acc = TaskAccuracy(c)
        self.test_task_acc = TaskAccuracy(c)
        self.epochs_per_task = 1  # read from the datamodule at fit start
        self.save_hyperparameters(ignore=["model", "optimizer", "lr_scheduler"])  # subclasses' arguments too
        self._task_slices: Optional[list[slice]] = None

    @property
    def network(self) -> nn.Module:
        return self.model

    # --- the task sequence ------------------------------------------------------------------------------------

    @property
    def num_tasks(self) -> int:
        return len(self._slices())

    @property
    def current_task(self) -> int:
        return min(self.trainer.current_epoch // self.epochs_per_task, self.num_tasks - 1)

    def is_task_end(self) -> bool:
        """Whether the running epoch is the last of its task."""
        return (self.trainer.current_epoch + 1) % self.epochs_per_task == 0

    def task_slice(self, task: int) -> slice:
        """The (renumbered, contiguous) classes of ``task``."""
        return self._slices()[task]

    def _slices(self) -> list[slice]:
        # Python ints, derived once from the buffer: the training step then needs no device sync.
        if self._task_slices is None:
            class_to_task = self.class_to_task.tolist()
            if min(class_to_task) < 0:
                raise RuntimeError("the task split is unknown: train with a ClassIncrementalDataModule first")
            self._task_slices = [
                slice(class_to_task.index(t), len(class_to_task) - class_to_task[::-1].index(t))
                for t in range(max(class_to_task) + 1)
            ]
        return self._task_slices

    def seen_classes(self, task: Optional[int] = None) -> int:
        """How many classes tasks ``0..task`` hold (default: up to the current task)."""
        task = self.current_task if task is None else task
        return self.task_slice(task).stop

    def on_fit_start(self) -> None:
        datamodule = self.trainer.datamodule
        if not hasattr(datamodule, "class_to_task"):
            raise ValueError(
                f"{type(self).__name__} needs a ClassIncrementalDataModule, got {type(datamodule).__name__}"
            )
        class_to_task = datamodule.class_to_task.to(self.device)
        if int(self.num_seen_tasks) > 0 and not torch.equal(self.class_to_task, class_to_task):
            raise ValueError("the checkpoint was trained on another task split than the datamodule's")
        self.class_to_task.copy_(class_to_task)
        self._task_slices = None
        self.epochs_per_task = datamodule.epochs_per_task

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._task_slices = None  # class_to_task is about to be replaced

    def on_train_epoch_start(self) -> None:
        if self.trainer.current_epoch % self.epochs_per_task == 0:
            self.on_task_start(self.current_task)

    def on_task_start(self, task: int) -> None:
        """Called at the first epoch of every task; snapshots the model as the frozen old model."""
        self.num_seen_tasks.fill_(task + 1)
        if self.keeps_old_model and task > 0:
            self.old_model.load_state_dict(self.model.state_dict())

    def train(self, mode: bool = True) -> "ContinualModule":
        super().train(mode)
        if self.keeps_old_model:
            self.old_model.eval()  # a snapshot: its batch-norm statistics and dropout must not change
        return self

    def old_model_forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.old_model(x)

    # --- training ---------------------------------------------------------------------------------------------

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        logits = self.model(x)
        loss = self.classification_loss(logits, y)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def classification_loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy over the classes the scenario trains: all seen so far (class-IL) or the current
        task's head (task-IL)."""
        if self.scenario == "task":
            head = self.task_slice(self.current_task)
            return F.cross_entropy(logits[:, head].float(), targets - head.start)
        return F.cross_entropy(logits[:, : self.seen_classes()].float(), targets)

    # --- evaluation -------------------------------------------------------------------------------------------

    def masked_logits(self, logits: Tensor, task_ids: Tensor) -> Tensor:
        """Logits with the classes the scenario rules out set to ``-inf``: unseen classes (class-IL), or every
        class outside the sample's own task (task-IL)."""
        if self.scenario == "task":
            allowed = self.class_to_task[None, :] == task_ids[:, None]
        else:
            allowed = (self.class_to_task >= 0) & (self.class_to_task < max(int(self.num_seen_tasks), 1))
            allowed = allowed[None, :]
        return logits.float().masked_fill(~allowed, float("-inf"))

    def predict_classes(self, x: Tensor, task_ids: Tensor) -> dict[str, Tensor]:
        """Predicted classes per classifier; the first entry is the one reported as ``acc``."""
        return {"": self.masked_logits(self.model(x), task_ids).argmax(-1)}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y, _, task_ids = batch
        for name, preds in self.predict_classes(x, task_ids).items():
            self._task_metric("val", name).update(preds, y, task_ids)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x, y, _, task_ids = batch
        for name, preds in self.predict_classes(x, task_ids).items():
            self._task_metric("test", name).update(preds, y, task_ids)

    def _task_metric(self, stage: str, name: str) -> TaskAccuracy:
        return getattr(self, f"{stage}_{name}task_acc")

    def _log_task_accuracies(self, stage: str) -> dict[str, Tensor]:
        seen = max(int(self.num_seen_tasks), 1)
        rows = {}
        for name in self._classifier_names():
            metric = self._task_metric(stage, name)
            if not metric.update_called:
                continue
            acc = metric.compute()[:seen]
            metric.reset()
            for j, value in enumerate(acc):
                self.log(f"{stage}/{name}acc_task{j}", value)
            self.log(f"{stage}/{name}acc", acc.mean(), prog_bar=(stage == "val" and not name))
            rows[name] = acc
        return rows

    def _classifier_names(self) -> list[str]:
        return [""]

    def on_validation_epoch_end(self) -> None:
        rows = self._log_task_accuracies("val")
        if self.trainer.sanity_checking or not self.is_task_end():
            return
        # Row `task` of the accuracy matrix: accuracy on every task seen so far, after training this task.
        task = self.current_task
        for name, acc in rows.items():
            getattr(self, f"{name}accuracy_matrix")[task, : len(acc)] = acc

    def on_test_epoch_end(self) -> None:
        self._log_task_accuracies("test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Class probabilities over the classes the scenario allows (seen classes, or the sample's task)."""
        x, task_ids = batch[0], batch[3]
        return self.masked_logits(self.model(x), task_ids).softmax(-1)
