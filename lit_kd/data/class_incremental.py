"""Split a classification datamodule into a sequence of tasks of disjoint classes, served inside one ``fit``."""

from collections.abc import Sequence
from typing import Any, Literal, Optional

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from lit_kd.data.base import ClassificationDataModule, check_int


class ClassIncrementalDataModule(LightningDataModule):
    def __init__(
        self,
        dataset: ClassificationDataModule,
        num_tasks: Optional[int] = None,
        classes_per_task: Optional[int] = None,
        class_order: Optional[list[int]] = None,
        class_order_seed: Optional[int] = None,
        epochs_per_task: int = 1,
        batches_per_task: Optional[int] = None,
        cumulative: bool = False,
        eval_split: Literal["val", "test"] = "val",
    ) -> None:
        """A sequence of tasks with disjoint classes, for task- and class-incremental learning.

        The whole sequence is one ``trainer.fit``: task ``t = current_epoch // epochs_per_task``. Set
        ``trainer.max_epochs = num_tasks * epochs_per_task`` and ``trainer.reload_dataloaders_every_n_epochs = 1``
        (checked at setup), so each epoch's loader serves its task; because the task follows from the epoch, a
        run resumed from a checkpoint continues in the right task.

        Labels are renumbered in ``class_order``, so task ``t`` holds classes ``[t·k, (t+1)·k)``. Batches are
        ``(inputs, targets, indices, task_ids)``: ``indices`` are positions in the wrapped dataset's training split
        (what exemplar memories store), and the task id lets task-incremental models pick their head.

        Args:
            dataset: the datamodule to split, e.g. ``lit_kd.data.MNISTDataModule``.
            num_tasks: number of tasks; give this or ``classes_per_task``.
            classes_per_task: classes per task; must divide the number of classes.
            class_order: the order in which classes arrive (a permutation of the class ids). Default: ascending,
                or shuffled by ``class_order_seed``.
            class_order_seed: shuffle the class order with this seed (iCaRL used 1993), unless ``class_order``
                is given.
            epochs_per_task: training epochs for each task.
            batches_per_task: draw exactly this many training batches per task (spread evenly over its epochs)
                by cycling through the task's data, for iteration-based protocols (van de Ven & Tolias 2019 use
                2000 iterations per task). Default: each epoch is one pass over the task's data.
            cumulative: train each task on the data of every task so far (the joint-training upper bound).
            eval_split: the wrapped dataset's split served by ``val_dataloader``, which fills the accuracy matrix;
                ``"test"`` for protocols that report test accuracy after each task.
        """
        super().__init__()
        self.dataset = dataset
        self.num_classes = dataset.num_classes
        if (num_tasks is None) == (classes_per_task is None):
            raise ValueError("give exactly one of `num_tasks` and `classes_per_task`")
        if num_tasks is not None:
            check_int("num_tasks", num_tasks, 1)
            if self.num_classes % num_tasks:
                raise ValueError(f"`num_tasks`={num_tasks} does not divide the {self.num_classes} classes")
            classes_per_task = self.num_classes // num_tasks
        check_int("classes_per_task", classes_per_task, 1)
        if self.num_classes % classes_per_task:
            raise ValueError(f"`classes_per_task`={classes_per_task} does not divide the {self.num_classes} classes")
        self.classes_per_task = classes_per_task
        self.num_tasks = self.num_classes // classes_per_task
        if class_order is None:
            if class_order_seed is None:
                class_order = list(range(self.num_classes))
            else:
                generator = torch.Generator().manual_seed(class_order_seed)
                class_order = torch.randperm(self.num_classes, generator=generator).tolist()
        if sorted(class_order) != list(range(self.num_classes)):
            raise ValueError(f"`class_order` must be a permutation of 0..{self.num_classes - 1}, got {class_order}")
        self.class_order = list(class_order)
        check_int("epochs_per_task", epochs_per_task, 1)
        self.epochs_per_task = epochs_per_task
        if batches_per_task is not None:
            check_int("batches_per_task", batches_per_task, 1)
            if batches_per_task % epochs_per_task:
                raise ValueError(
                    f"`batches_per_task`={batches_per_task} must be a multiple of `epochs_per_task`={epochs_per_task}"
                )
        self.batches_per_task = batches_per_task
        self.cumulative = cumulative
        if eval_split not in ("val", "test"):
            raise ValueError(f"`eval_split` must be 'val' or 'test', got {eval_split!r}")
        self.eval_split = eval_split
        # new label = position of the original class in class_order
        self.label_map = torch.empty(self.num_classes, dtype=torch.long)
        self.label_map[torch.tensor(self.class_order)] = torch.arange(self.num_classes)
        self._label_maps: dict[torch.device, Tensor] = {}

    # --- the task structure -----------------------------------------------------------------------------------

    @property
    def class_to_task(self) -> Tensor:
        """``(num_classes,)``: the task of each (renumbered) class."""
        return torch.arange(self.num_classes) // self.classes_per_task

    def task_classes(self, task: int) -> list[int]:
        """The renumbered classes of ``task``."""
        return list(range(task * self.classes_per_task, (task + 1) * self.classes_per_task))

    @property
    def current_task(self) -> int:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        return min(epoch // self.epochs_per_task, self.num_tasks - 1)

    def _num_seen_tasks(self) -> int:
        if self.trainer is None:
            return self.num_tasks
        if self.trainer.state.fn == "fit":
            return self.current_task + 1
        # Testing a checkpoint: the tasks its model has learnt (all of them after a complete run).
        seen = getattr(self.trainer.lightning_module, "num_seen_tasks", None)
        return int(seen) if seen else self.num_tasks

    @property
    def augments_training_inputs(self) -> bool:
        return self.dataset.augments_training_inputs

    # --- Lightning hooks --------------------------------------------------------------------------------------

    def prepare_data(self) -> None:
        self.dataset.prepare_data()

    def setup(self, stage: Optional[str] = None) -> None:
        self.dataset.trainer = self.trainer  # so that it can place its tensors on the accelerator
        self.dataset.setup(stage)
        if stage == "fit" and self.trainer is not None:
            expected = self.num_tasks * self.epochs_per_task
            if self.trainer.max_epochs != expected:
                raise ValueError(
                    f"`trainer.max_epochs` is {self.trainer.max_epochs}, but {self.num_tasks} tasks of "
                    f"`epochs_per_task`={self.epochs_per_task} need max_epochs={expected}"
                )
            if self.trainer.reload_dataloaders_every_n_epochs != 1:
                raise ValueError(
                    "set `trainer.reload_dataloaders_every_n_epochs: 1`: each epoch's training loader must serve "
                    f"its task, got {self.trainer.reload_dataloaders_every_n_epochs}"
                )
        self._train_labels = self.label_map[self.dataset.train_targets()]

    def train_dataloader(self) -> DataLoader:
        task = self.current_task
        first = 0 if self.cumulative else task
        indices = self.indices_of_classes(range(first * self.classes_per_task, (task + 1) * self.classes_per_task))
        # Rehearsal methods (iCaRL) add their exemplars: indices into the same training split.
        rehearsal = getattr(self.trainer.lightning_module, "rehearsal_indices", None) if self.trainer else None
        if rehearsal is not None:
            indices = torch.cat([indices, rehearsal().cpu()])
        if self.batches_per_task is not None:
            # Cycle through the task's data so an epoch holds exactly the requested number of batches.
            needed = self.batches_per_task // self.epochs_per_task * self.dataset.batch_size
            indices = indices.repeat(-(-needed // len(indices)))[:needed]
        return self.dataset._dataloader(Subset(self.dataset.train_dataset, indices.tolist()), train=True)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.eval_split)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        train = self.trainer is not None and self.trainer.training
        return self.prepare_batch(batch, train=train)

    # --- for the continual-learning modules -------------------------------------------------------------------

    def prepare_batch(self, batch: Any, train: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Preprocess a raw batch already on its device; renumber its labels and add the task ids."""
        x, y, idx = batch[0], batch[1], batch[2]
        if self.dataset.in_memory:
            x = self.dataset.preprocess(x, train=train)
        if y.device not in self._label_maps:
            self._label_maps[y.device] = self.label_map.to(y.device)
        y = self._label_maps[y.device][y]
        return x, y, idx, torch.div(y, self.classes_per_task, rounding_mode="floor")

    def indices_of_classes(self, classes: Sequence[int]) -> Tensor:
        """Training-split indices of the samples of the given renumbered classes, in ascending order."""
        wanted = torch.zeros(self.num_classes, dtype=torch.bool)
        wanted[torch.as_tensor(list(classes), dtype=torch.long)] = True
        return torch.nonzero(wanted[self._train_labels]).flatten()

    def samples_loader(self, indices: Tensor) -> DataLoader:
        """Unshuffled loader over the given training-split samples (for herding and class means); its raw
        batches go through ``prepare_batch`` with ``train=False``."""
        return self.dataset._dataloader(Subset(self.dataset.train_dataset, indices.tolist()), train=False)

    def _eval_loader(self, split: str) -> DataLoader:
        dataset = getattr(self.dataset, f"{split}_dataset")
        if dataset is None:
            raise ValueError(
                f"the wrapped datamodule has no {split} split: give it a validation split or set `eval_split: test`"
            )
        labels = self.label_map[dataset.targets]
        seen = self._num_seen_tasks() * self.classes_per_task
        indices = torch.nonzero(labels < seen).flatten()
        return self.dataset._dataloader(Subset(dataset, indices.tolist()), train=False)
