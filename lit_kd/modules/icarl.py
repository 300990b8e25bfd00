"""iCaRL: incremental classifier and representation learning (Rebuffi et al. 2017)."""

from typing import Any, Literal, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lit_kd.losses import check_temperature, sigmoid_distillation_loss, soft_target_loss
from lit_kd.memory import ExemplarMemory, herding_selection
from lit_kd.modules.continual import ContinualModule, TaskAccuracy


class ICaRLModule(ContinualModule):
    keeps_old_model = True

    def __init__(
        self,
        model: nn.Module,
        memory_size: int = 2000,
        loss: Literal["bce", "ce_kd"] = "bce",
        temperature: float = 2.0,
        distillation_weight: float = 1.0,
        flip_class_means: Optional[bool] = None,
        num_classes: Optional[int] = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: Optional[LRSchedulerCallable] = None,
    ) -> None:
        """iCaRL, class-incremental: exemplar rehearsal, distillation from the previous model, and
        nearest-mean-of-exemplars (NME) classification.

        * Memory: a fixed total of ``memory_size`` exemplars split evenly over the classes seen so far. After each
          task the new classes' exemplars are chosen by herding on L2-normalised features; their ranking is
          computed once and only truncated as later classes shrink the per-class budget. The memory stores
          training-set indices, lives in the checkpoint, and its samples join every later task's training data.
        * Loss: ``"bce"`` is the paper's sigmoid binary cross-entropy over all seen classes, the old classes'
          targets replaced by the previous model's sigmoid outputs. ``"ce_kd"`` is the variant several
          reproductions use: softmax cross-entropy over the seen classes plus ``λ·T²·KL`` between the old
          classes' softmax outputs of the model and of the previous model.
        * Classification: the class whose exemplar mean (normalised features) is nearest. Logged as ``val/acc``
          (at the end of each task, when the means exist); the network head's accuracy as ``val/head_acc``.

        Args:
            model: a network with ``forward_features(x)`` (the embedding herding and NME use) and a ``head``
                covering all classes, like the models in ``lit_kd.models``.
            memory_size: total exemplar budget ``K`` (the paper uses 2000); at least the number of classes.
            loss: ``"bce"`` (the paper) or ``"ce_kd"`` (softmax CE + KD).
            temperature: softmax temperature of the ``"ce_kd"`` distillation term (unused by ``"bce"``).
            distillation_weight: ``λ`` of the ``"ce_kd"`` distillation term (unused by ``"bce"``).
            flip_class_means: average each exemplar's features with those of its horizontal mirror image when
                computing class means, as the official code does for natural images. Default: when the data is
                augmented with flips (not for digits).
            num_classes: classes over all tasks; the CLI links it from the datamodule.
            optimizer: optimizer factory, called with the model's parameters.
            lr_scheduler: optional learning-rate scheduler factory.
        """
        if loss not in ("bce", "ce_kd"):
            raise ValueError(f"`loss` must be 'bce' or 'ce_kd', got {loss!r}")
        check_temperature(temperature)
        if not distillation_weight >= 0:
            raise ValueError(f"`distillation_weight` must be >= 0, got {distillation_weight}")
        for attribute in ("forward_features", "head"):
            if not hasattr(model, attribute):
                raise ValueError(
                    f"`model` ({type(model).__name__}) has no `{attribute}`: iCaRL needs the embedding before the "
                    "classifier head; use a model from lit_kd.models or add forward_features() and head"
                )
        super().__init__(model, "class", num_classes, optimizer, lr_scheduler)
        if memory_size < self.num_classes:
            raise ValueError(
                f"`memory_size`={memory_size} cannot hold one exemplar for each of the {self.num_classes} classes"
            )
        self.memory = ExemplarMemory(memory_size, self.num_classes)
        self.loss = loss
        self.temperature = temperature
        self.distillation_weight = distillation_weight
        self.flip_class_means = flip_class_means
        self.register_buffer("class_means", torch.zeros(self.num_classes, model.head.in_features))
        self.register_buffer("head_accuracy_matrix", torch.full((self.num_classes, self.num_classes), float("nan")))
        self.val_head_task_acc = TaskAccuracy(self.num_classes)
        self.test_head_task_acc = TaskAccuracy(self.num_classes)

    # --- training ---------------------------------------------------------------------------------------------

    def rehearsal_indices(self) -> Tensor:
        """Training-set indices of the exemplars, which ``ClassIncrementalDataModule`` adds to each task."""
        return self.memory.indices()

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, y = batch[0], batch[1]
        task = self.current_task
        seen, old = self.seen_classes(task), self.task_slice(task).start
        logits = self.model(x)[:, :seen]
        old_logits = self.old_model_forward(x)[:, :old] if old else None
        if self.loss == "bce":
            loss = sigmoid_distillation_loss(logits, y, old_logits, old)
        else:
            loss = F.cross_entropy(logits.float(), y)
            if old_logits is not None:
                distill = soft_target_loss(logits[:, :old], old_logits, self.temperature)
                self.log("train/soft_target_loss", distill)
                loss = loss + self.distillation_weight * distill
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_validation_start(self) -> None:
        # Lightning validates before `on_train_epoch_end`; the exemplars and means of a finished task must exist
        # before that validation fills the task's row of the accuracy matrix.
        if not self.trainer.sanity_checking and self.trainer.state.fn == "fit" and self.is_task_end():
            self.update_memory()

    def on_train_epoch_end(self) -> None:
        if self.is_task_end():
            self.update_memory()  # when validation is off or did not run this epoch; a no-op otherwise

    @torch.inference_mode(False)
    @torch.no_grad()
    def update_memory(self) -> None:
        """End of a task: herd exemplars for its classes, shrink the older ones, recompute all class means."""
        task = self.current_task
        new_classes = range(self.task_slice(task).start, self.task_slice(task).stop)
        datamodule = self.trainer.datamodule
        was_training = self.model.training
        self.model.eval()
        if not all(c in self.memory.classes for c in new_classes):
            seen = self.seen_classes(task)
            budget = self.memory.per_class_budget(seen)
            ranked = {}
            for c in new_classes:
                indices = datamodule.indices_of_classes([c])
                features = self._features(indices)
                ranked[c] = indices[herding_selection(features, budget).cpu()]
            self.memory.add_classes(ranked, num_seen_classes=seen)
        self._update_class_means()
        self.model.train(was_training)

    def _update_class_means(self) -> None:
        flip = self.flip_class_means
        if flip is None:
            flip = bool(getattr(self.trainer.datamodule.dataset, "_hflip", False))
        indices, labels = self.memory.indices(), self.memory.labels().to(self.device)
        features = self._features(indices, flip=flip)
        sums = torch.zeros_like(self.class_means).index_add_(0, labels, features)
        counts = torch.bincount(labels, minlength=self.num_classes).clamp_min(1)[:, None]
        self.class_means.copy_(F.normalize(sums / counts, dim=1))

    def _features(self, indices: Tensor, flip: bool = False) -> Tensor:
        """L2-normalised embeddings of training samples, computed shard by shard over the ranks and gathered, so
        every rank holds the same features (and so selects the same exemplars)."""
        world, rank = self.trainer.world_size, self.trainer.global_rank
        shard = indices[rank::world]
        datamodule = self.trainer.datamodule
        chunks = []
        for batch in datamodule.samples_loader(shard):
            batch = [t.to(self.device) for t in batch]
            x = datamodule.prepare_batch(batch, train=False)[0]
            f = F.normalize(self.model.forward_features(x).float(), dim=1)
            if flip:
                f = (f + F.normalize(self.model.forward_features(x.flip(-1)).float(), dim=1)) / 2
            chunks.append(f)
        dim = self.class_means.shape[1]
        local = torch.cat(chunks) if chunks else torch.zeros(0, dim, device=self.device)
        if world == 1:
            return local
        # all_gather needs equal shapes: pad every shard to the longest; shard r holds positions r, r+world, ...
        longest = -(-len(indices) // world)
        padded = torch.cat([local, local.new_zeros(longest - len(local), dim)])
        gathered = self.all_gather(padded)  # (world, longest, dim)
        return gathered.transpose(0, 1).reshape(-1, dim)[: len(indices)]

    # --- evaluation -------------------------------------------------------------------------------------------

    def _classifier_names(self) -> list[str]:
        return ["", "head_"]

    def predict_classes(self, x: Tensor, task_ids: Tensor) -> dict[str, Tensor]:
        features = self.model.forward_features(x)
        head = self.masked_logits(self.model.head(features), task_ids).argmax(-1)
        seen = self.seen_classes(max(int(self.num_seen_tasks), 1) - 1)
        if not all(c in self.memory.classes for c in range(seen)):
            return {"head_": head}  # before a task's end its new classes have no exemplar means yet
        similarity = F.normalize(features.float(), dim=1) @ self.class_means[:seen].T
        return {"": similarity.argmax(-1), "head_": head}
