"""Test-only callbacks and helpers for runs of the real ``lit-kd`` command in subprocesses.

The callbacks live in an importable module (not a test file) so that a subprocess can name them with
``--trainer.callbacks+=ddp_probe.DumpState`` when ``tests/`` is on ``PYTHONPATH`` (``run_cli`` sets it).
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

from lightning.pytorch import Callback, LightningModule, Trainer

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CONFIGS = REPO / "configs"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


class DumpState(Callback):
    """At the end of ``fit`` (and of ``test``), every rank writes what it holds to ``<out_dir>/rank<r>.json``:
    its world size, the float metrics it sees and, for iCaRL, its exemplar indices and class means."""

    def __init__(self, out_dir: str) -> None:
        """Args:
        out_dir: directory for the per-rank files."""
        self.out_dir = out_dir

    def _dump(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        state: dict = {"world_size": trainer.world_size, "global_rank": trainer.global_rank}
        state["metrics"] = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        memory = getattr(pl_module, "memory", None)
        if memory is not None:
            state["exemplars"] = memory.indices().tolist()
            state["class_means"] = pl_module.class_means.tolist()
        os.makedirs(self.out_dir, exist_ok=True)
        with open(os.path.join(self.out_dir, f"{stage}_rank{trainer.global_rank}.json"), "w") as f:
            json.dump(state, f)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._dump(trainer, pl_module, "fit")

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._dump(trainer, pl_module, "test")


class KillAtEpoch(Callback):
    """SIGKILL this process when epoch ``epoch`` starts: the checkpoints of the epochs before it are on disk, and
    nothing (no ``finally``, no atexit) gets to tidy up, as when a job is pre-empted."""

    def __init__(self, epoch: int) -> None:
        """Args:
        epoch: the 0-based epoch at whose start the process dies."""
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


class KillDuringSave(Callback):
    """SIGKILL this process half-way through writing the bytes of the ``save``-th checkpoint named ``filename``.

    It patches the file object Lightning's ``_atomic_save`` writes through (fsspec's local file), so the real
    save code runs up to the moment of death."""

    def __init__(self, filename: str = "last.ckpt", save: int = 2) -> None:
        """Args:
        filename: the checkpoint file name to watch.
        save: which of its writes to interrupt, counting from 1."""
        self.filename = filename
        self.save = save

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        from fsspec.implementations.local import LocalFileOpener

        original, count = LocalFileOpener.write, [0]

        def write(opener, data, *args, **kwargs):  # type: ignore[no-untyped-def]
            if os.path.basename(str(opener.path)) != self.filename:
                return original(opener, data, *args, **kwargs)
            count[0] += 1
            if count[0] < self.save:
                return original(opener, data, *args, **kwargs)
            original(opener, data[: len(data) // 2])
            opener.flush()
            os.fsync(opener.f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        LocalFileOpener.write = write


def run_cli(args: list[str], cwd: Path, launcher: Optional[list[str]] = None, timeout: float = 300, **env: str):
    """Run ``lit-kd <args>`` (or ``<launcher> -m lit_kd <args>``) in ``cwd``; returns the CompletedProcess."""
    command = (launcher or [sys.executable]) + ["-m", "lit_kd", *args]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    environment.update(PYTHONWARNINGS="ignore", **env)
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def read_dumps(out_dir: Path, stage: str = "fit") -> list[dict]:
    """The per-rank files DumpState wrote, in rank order."""
    files = sorted(out_dir.glob(f"{stage}_rank*.json"))
    return [json.loads(f.read_text()) for f in files]


@contextlib.contextmanager
def working_directory(path: Path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def digits_teacher(root: Path, epochs: int = 3) -> Path:
    """Train the quickstart teacher (configs/digits/teacher.yaml, a few epochs) under ``root``, once per ``root``;
    returns its best checkpoint, ``root/runs/digits/teacher/checkpoints/best.ckpt``."""
    from lit_kd.cli import cli_main

    best = root / "runs/digits/teacher/checkpoints/best.ckpt"
    if not best.is_file():
        root.mkdir(parents=True, exist_ok=True)
        with working_directory(root):
            args = ["fit", "--config", str(CONFIGS / "digits/teacher.yaml"), "--trainer.max_epochs", str(epochs)]
            cli_main(args + ["--test_after_fit", "false", *QUIET])
    return best
