"""Report the accuracy matrix of a task sequence and the continual-learning metrics derived from it."""

import csv
import json
import os
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from lit_kd.metrics import (
    accuracy_matrix_image,
    average_forgetting,
    average_incremental_accuracy,
    backward_transfer,
    final_average_accuracy,
)

SUMMARIES = {
    "average_accuracy": final_average_accuracy,
    "average_incremental_accuracy": average_incremental_accuracy,
    "forgetting": average_forgetting,
    "backward_transfer": backward_transfer,
}


class ContinualMetrics(Callback):
    """At the end of each task, log the accuracy matrix ``R`` and what it implies.

    ``R[i, j]`` is the accuracy on task ``j`` after training task ``i``, filled by the continual-learning modules
    when a task's last epoch is validated. After task ``t`` this callback logs, under ``continual/``:
    ``average_accuracy`` (mean of row ``t``), ``average_incremental_accuracy`` (iCaRL's metric: the mean of the
    row averages so far), ``forgetting`` (Chaudhry et al. 2018) and ``backward_transfer`` (Lopez-Paz & Ranzato
    2017), plus ``R`` as a heatmap image on TensorBoard. It writes ``accuracy_matrix.csv`` and
    ``continual_metrics.json`` into the run's log directory (rank zero only). iCaRL's network-head accuracy gets
    the same, prefixed ``head_``. Modules without an accuracy matrix are left alone, so the CLI adds this callback
    to every run.
    """

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        matrix = getattr(pl_module, "accuracy_matrix", None)
        if matrix is None or trainer.sanity_checking or not pl_module.is_task_end():
            return
        done = pl_module.current_task + 1
        # On every rank: under DDP `trainer.log_dir` broadcasts rank zero's path, a collective that would hang if
        # only rank zero asked for it.
        log_dir = trainer.log_dir
        writes_files = trainer.is_global_zero and log_dir is not None
        if writes_files:
            os.makedirs(log_dir, exist_ok=True)
        report: dict[str, Any] = {"tasks_done": done, "epoch": trainer.current_epoch}
        for prefix in ("", "head_"):
            R = getattr(pl_module, f"{prefix}accuracy_matrix", None)
            if R is None:
                continue
            R = R[:done, :done].detach().cpu()
            summary = {f"{prefix}{name}": fn(R) for name, fn in SUMMARIES.items()}
            report.update(summary)
            report[f"{prefix}accuracy_matrix"] = [[None if v != v else v for v in row] for row in R.tolist()]
            image = accuracy_matrix_image(R)
            for logger in trainer.loggers:
                logger.log_metrics({f"continual/{k}": v for k, v in summary.items()}, step=trainer.global_step)
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(f"continual/{prefix}accuracy_matrix", image, done, dataformats="CHW")
            if writes_files:
                self._write_csv(os.path.join(log_dir, f"{prefix}accuracy_matrix.csv"), R)
        if writes_files:
            with open(os.path.join(log_dir, "continual_metrics.json"), "w") as f:
                json.dump(report, f, indent=2)

    @staticmethod
    def _write_csv(path: str, R: Tensor) -> None:
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["after_task"] + [f"task{j}" for j in range(R.shape[1])])
            for i, row in enumerate(R.tolist()):
                writer.writerow([i] + ["" if v != v else f"{v:.4f}" for v in row])
