"""The ``lit-kd`` command: LightningCLI with the wiring distillation needs."""

from typing import Any, Optional

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

import lit_kd  # noqa: F401  (registers lit-kd's classes so configs may use short class names)
from lit_kd.callbacks import ContinualMetrics, DistillationMonitor


class LitKDCLI(LightningCLI):
    """LightningCLI for lit-kd.

    Differences from the stock CLI, each for a reason:

    * no automatic optimizer: each module builds its optimizer over the network it trains, so a teacher or an
      old-model snapshot never gets an optimizer state (the stock CLI would take every parameter);
    * ``data.num_classes`` is linked into ``model.init_args.num_classes``, so a model with the wrong number of
      outputs fails at start-up with a message, not as a shape error mid-epoch;
    * ``DistillationMonitor`` and ``ContinualMetrics`` are always on; each leaves alone the modules it does not
      apply to;
    * ``--test_after_fit true`` tests the best checkpoint when ``fit`` ends, so one command prints test accuracy.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_configure_optimizers", False)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(DistillationMonitor, "distillation_monitor")
        parser.add_lightning_class_args(ContinualMetrics, "continual_metrics")
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=False,
            help="After `fit`, run `test` on the best checkpoint (or the final weights when none was saved).",
        )

    def after_fit(self) -> None:
        if not self.config[self.subcommand].get("test_after_fit"):
            return
        checkpoint = getattr(self.trainer.checkpoint_callback, "best_model_path", "")
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=checkpoint or None)


def cli_main(args: Optional[list[str]] = None) -> LitKDCLI:
    """Run ``lit-kd``. ``args`` (a list like ``["fit", "--config", "kd.yaml"]``) replaces ``sys.argv``, so tests
    and notebooks can call it in-process."""
    return LitKDCLI(LightningModule, LightningDataModule, args=args)


def main() -> None:
    """Console entry point; returns nothing, so that a successful run exits with status 0."""
    cli_main()


if __name__ == "__main__":
    main()
