"""What every lit-kd LightningModule shares: optimizer wiring, accuracy metrics and prediction."""

from typing import Any, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy


class BaseModule(LightningModule):
    """Base class: one trainable ``network`` evaluated by top-1 accuracy.

    Subclasses register the trainable network under its own name (``model`` or ``student``) and return it from
    the ``network`` property; only its parameters are optimised, so frozen teachers and old-model snapshots never
    reach the optimizer.
    """

    def __init__(
        self,
        network: nn.Module,
        num_classes: Optional[int],
        optimizer: OptimizerCallable,
        lr_scheduler: Optional[LRSchedulerCallable],
    ) -> None:
        super().__init__()
        num_classes = check_num_classes(network, num_classes, "the model")
        self.num_classes = num_classes
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")

    @property
    def network(self) -> nn.Module:
        """The network being trained."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer(p for p in self.network.parameters() if p.requires_grad)
        if self.lr_scheduler is None:
            return optimizer
        scheduler = self.lr_scheduler(optimizer)
        config = {"scheduler": scheduler}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = "val/loss"
        return {"optimizer": optimizer, "lr_scheduler": config}

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        logits = self(x)
        self.val_acc(logits, y)
        self.log("val/loss", F.cross_entropy(logits.float(), y), sync_dist=True)
        self.log("val/acc", self.val_acc, prog_bar=True)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        logits = self(x)
        self.test_acc(logits, y)
        self.log("test/loss", F.cross_entropy(logits.float(), y), sync_dist=True)
        self.log("test/acc", self.test_acc)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Class probabilities of the trained network."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(x).float().softmax(-1)


def infer_num_outputs(model: nn.Module) -> Optional[int]:
    """The number of classes a model predicts: its ``num_classes`` attribute, else its last ``nn.Linear``."""
    num = getattr(model, "num_classes", None)
    if isinstance(num, int):
        return num
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def check_num_classes(model: nn.Module, num_classes: Optional[int], what: str, against: str = "the data") -> int:
    """Check ``model`` predicts ``num_classes`` classes (the data's, linked by the CLI) and return the count."""
    outputs = infer_num_outputs(model)
    if num_classes is None:
        if outputs is None:
            raise ValueError(f"cannot infer how many classes {what} predicts: pass `num_classes`")
        return outputs
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1, got {num_classes}")
    if outputs is not None and outputs != num_classes:
        raise ValueError(
            f"{what} predicts {outputs} classes but {against} has num_classes={num_classes}: "
            f"give {what} num_classes={num_classes}"
        )
    return num_classes
