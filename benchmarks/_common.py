"""Helpers shared by the benchmark scripts: effective configs, in-process CLI runs, machine info, markdown."""

import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import yaml

COMMAND = " ".join(["python", *sys.argv])  # as launched, before run_cli swaps sys.argv
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Messages every benchmark run would print; they say nothing about the results.
QUIET_PATTERNS = (
    r".*does not have many workers.*",
    r".*modules in eval mode.*",
    r".*eval mode.*",
    r".*`self.log\(\)`.*",
    r".*The number of training batches.*",
    r".*Checkpoint directory.*exists and is not empty.*",
)


def quiet() -> None:
    """Silence the warnings that every run repeats, and Lightning's info chatter."""
    import logging

    for pattern in QUIET_PATTERNS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)


def set_threads(threads: int) -> None:
    """Fix torch's intra-op threads. On a shared machine two threads per process thrash; one per process does not."""
    import torch

    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


def load_config(path: str) -> dict[str, Any]:
    with open(os.path.join(REPO, path)) as f:
        return yaml.safe_load(f)


def redirect_outputs(config: dict[str, Any], save_dir: str, name: str) -> dict[str, Any]:
    """Send a config's logs and checkpoints under ``save_dir/name`` and switch the progress bar off."""
    trainer = config["trainer"]
    trainer["enable_progress_bar"] = False
    trainer["enable_model_summary"] = False
    trainer["logger"]["init_args"].update(save_dir=save_dir, name=name, version="")
    for callback in trainer.get("callbacks", []):
        if callback["class_path"].endswith("ModelCheckpoint"):
            callback["init_args"]["dirpath"] = os.path.join(save_dir, name, "checkpoints")
    return config


def write_config(config: dict[str, Any], path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path


def run_cli(config_path: str, extra: Sequence[str] = ()) -> tuple[Any, float]:
    """``lit-kd fit --config config_path`` in this process; returns the CLI object and the wall time in s."""
    from lit_kd.cli import cli_main

    argv, sys.argv = sys.argv, sys.argv[:1]  # the CLI would otherwise see the benchmark's own arguments
    try:
        start = time.perf_counter()
        cli = cli_main(["fit", "--config", config_path, *extra])
        return cli, time.perf_counter() - start
    finally:
        sys.argv = argv


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info() -> str:
    """Date, CPU model, core count and library versions, as a markdown paragraph."""
    import lightning
    import torch
    import torchvision

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; CPU: {cpu}, {os.cpu_count()} cores (torch threads: {torch.get_num_threads()}); "
        f"Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"lightning {lightning.__version__}; command: `{COMMAND}`"
    )
