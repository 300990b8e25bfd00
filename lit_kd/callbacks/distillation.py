"""Log what distillation is doing, from the outputs the training step already computed."""

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer


class DistillationMonitor(Callback):
    """Log the parts of the distillation loss and how close the student is to its teacher.

    Logged per step (thinned by the Trainer's ``log_every_n_steps``) and as per-epoch means, under:

    * ``train/soft_target_loss``: the distillation term, e.g. ``T²·KL(p‖q)``;
    * ``train/hard_target_loss``: the cross-entropy with the true labels;
    * ``train/agreement``: the fraction of samples where the student's top-1 class is the teacher's;
    * ``train/teacher_entropy``: the mean entropy (nats) of the teacher's soft targets at the module's
      temperature; near 0 means the targets are almost one-hot and carry little beyond the label.

    The total loss is logged by the module itself as ``train/loss``. It reuses the detached logits the training
    step returns, so it costs no extra forward pass. Modules whose training step returns no teacher outputs (e.g.
    ``ClassifierModule``) are left alone, so the CLI adds this callback to every run.
    """

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not isinstance(outputs, dict) or "teacher_logits" not in outputs:
            return
        student, teacher = outputs["student_logits"].float(), outputs["teacher_logits"].float()
        p = (teacher / getattr(pl_module, "temperature", 1.0)).softmax(-1)
        entropy = -torch.special.xlogy(p, p).sum(-1).mean()
        agreement = (student.argmax(-1) == teacher.argmax(-1)).float().mean()
        metrics = {
            "train/soft_target_loss": outputs["soft_target_loss"],
            "train/hard_target_loss": outputs["hard_target_loss"],
            "train/agreement": agreement,
            "train/teacher_entropy": entropy,
        }
        # Not synced across ranks: an all-reduce every step would cost more than rank zero's sample is worth.
        pl_module.log_dict(metrics, on_step=True, on_epoch=True, batch_size=len(student))
