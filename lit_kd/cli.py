"""The ``lit-kd`` command: LightningCLI with the wiring distillation needs."""

import pickle
import re
from typing import Any, Optional

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

import lit_kd  # noqa: F401  (registers lit-kd's classes so configs may use short class names)
from lit_kd.callbacks import ContinualMetrics, DistillationMonitor, RNGStateCheckpoint
from lit_kd.teacher import UNSAFE_PICKLE, describe_load_error


class LitKDCLI(LightningCLI):
    """LightningCLI for lit-kd.

    Differences from the stock CLI, each for a reason:

    * no automatic optimizer: each module builds its optimizer over the network it trains, so a teacher or an
      old-model snapshot never gets an optimizer state (the stock CLI would take every parameter);
    * ``data.num_classes`` is linked into ``model.init_args.num_classes``, so a model with the wrong number of
      outputs fails at start-up with a message, not as a shape error mid-epoch;
    * ``DistillationMonitor`` and ``ContinualMetrics`` are always on; each leaves alone the modules it does not
      apply to;
    * ``--test_after_fit true`` tests the best checkpoint when ``fit`` ends, so one command prints test accuracy;
    * ``RNGStateCheckpoint`` is always on, so ``--ckpt_path last`` resumes dropout and augmentation exactly;
    * ``--ckpt_path`` loads with ``weights_only=True`` unless ``--weights_only false`` is given explicitly (unsafe:
      full unpickling runs whatever code the file holds), even where ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set;
    * an error raised by a class's ``__init__`` is reported as ``lit-kd: error: <class>: <message>`` (exit status
      1), not wrapped in jsonargparse's dump of the whole configuration.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_configure_optimizers", False)
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(DistillationMonitor, "distillation_monitor")
        parser.add_lightning_class_args(ContinualMetrics, "continual_metrics")
        parser.add_lightning_class_args(RNGStateCheckpoint, "rng_state")
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
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=checkpoint or None, weights_only=True)

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, FileNotFoundError, RuntimeError) as err:
            cause = err
            while cause.__cause__ is not None:
                cause = cause.__cause__
            if cause is err:
                raise
            # jsonargparse wraps the class's own error in a dump of the whole config: report just the class and it.
            owner = re.search(r"class_path='([^']+)'", str(err))
            where = f"{owner.group(1)}: " if owner else ""
            raise SystemExit(f"lit-kd: error: {where}{cause}") from cause

    def _prepare_subcommand_kwargs(self, subcommand: str) -> dict[str, Any]:
        kwargs = super()._prepare_subcommand_kwargs(subcommand)
        # A checkpoint is code until proven otherwise. Explicit, so TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot undo it.
        if "weights_only" in kwargs and kwargs["weights_only"] is None:
            kwargs["weights_only"] = True
        return kwargs

    def _parse_ckpt_path(self) -> None:
        # Lightning reads the hyper-parameters of a `--ckpt_path` file here, before anything is built.
        try:
            super()._parse_ckpt_path()
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as err:
            _raise_checkpoint_error(self.config[self.config.subcommand].get("ckpt_path"), err)

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except (pickle.UnpicklingError, RuntimeError) as err:
            _raise_checkpoint_error(self.config_init[subcommand].get("ckpt_path"), err)


def _raise_checkpoint_error(ckpt: Optional[str], err: Exception) -> None:
    """Re-raise a failure to read ``--ckpt_path`` as a message that names it; anything else unchanged."""
    unsafe, reason = describe_load_error(err)
    if unsafe:
        raise SystemExit(
            f"lit-kd: error: refusing to load `--ckpt_path {ckpt}`: {UNSAFE_PICKLE}; pass `--weights_only false` "
            f"only for a file you trust completely. Details: {reason}"
        ) from err
    if ckpt is not None and (not isinstance(err, RuntimeError) or "PytorchStreamReader" in reason):
        raise SystemExit(
            f"lit-kd: error: `--ckpt_path {ckpt}` is not a readable PyTorch checkpoint (truncated or corrupt?): {reason}"
        ) from err
    raise err


def cli_main(args: Optional[list[str]] = None) -> LitKDCLI:
    """Run ``lit-kd``. ``args`` (a list like ``["fit", "--config", "kd.yaml"]``) replaces ``sys.argv``, so tests
    and notebooks can call it in-process."""
    return LitKDCLI(LightningModule, LightningDataModule, args=args)


def main() -> None:
    """Console entry point; returns nothing, so that a successful run exits with status 0."""
    cli_main()


if __name__ == "__main__":
    main()
