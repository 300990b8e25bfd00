"""Crash and resume: a run SIGKILLed mid-training and resumed with ``--ckpt_path last`` ends exactly where the
uninterrupted run with the same seed ends, and a kill during a checkpoint save never leaves a broken last.ckpt."""

import json
import signal
from pathlib import Path

import pytest
import torch

from ddp_probe import CONFIGS, QUIET, digits_teacher, read_dumps, run_cli, working_directory
from lit_kd.cli import cli_main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return digits_teacher(tmp_path_factory.mktemp("resume_teacher"), epochs=1)


def dump(out: Path) -> list[str]:
    return ["--trainer.callbacks+=ddp_probe.DumpState", "--trainer.callbacks.out_dir", str(out)]


def kill_at(epoch: int) -> list[str]:
    return ["--trainer.callbacks+=ddp_probe.KillAtEpoch", "--trainer.callbacks.epoch", str(epoch)]


def run_in_process(args: list[str], cwd: Path) -> None:
    with working_directory(cwd):
        cli_main(args)


def killed_then_resumed(args: list[str], root: Path, epoch: int) -> None:
    """Run ``args`` in a subprocess that SIGKILLs itself when ``epoch`` starts, then resume it in-process."""
    root.mkdir()
    result = run_cli(args + kill_at(epoch), cwd=root)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    run_in_process(args + ["--ckpt_path", "last"], root)


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    # equal_nan: the accuracy matrices hold NaN for tasks not reached.
    different = [k for k in wa if not torch.allclose(wa[k], wb[k], rtol=0, atol=0, equal_nan=True)]
    assert not different, f"weights differ after resuming: {different}"


def test_kd_run_killed_and_resumed_ends_like_uninterrupted(teacher, tmp_path):
    # Student dropout on purpose: its masks come from the global RNG, which RNGStateCheckpoint restores.
    args = ["fit", "--config", str(CONFIGS / "digits/kd.yaml"), "--trainer.max_epochs", "3",
            "--model.init_args.teacher_checkpoint", str(teacher), "--model.init_args.student.init_args.dropout", "0.2",
            "--test_after_fit", "true", *QUIET]
    (tmp_path / "full").mkdir()
    run_in_process(args + dump(tmp_path / "full/dump"), tmp_path / "full")
    killed_then_resumed(args + dump(tmp_path / "resumed/dump"), tmp_path / "resumed", epoch=2)

    full, resumed = read_dumps(tmp_path / "full/dump")[0], read_dumps(tmp_path / "resumed/dump")[0]
    for key in ("val/acc", "val/loss", "train/loss", "train/soft_target_loss"):
        assert resumed["metrics"][key] == full["metrics"][key], key
    full_test, resumed_test = (read_dumps(tmp_path / run / "dump", "test")[0] for run in ("full", "resumed"))
    assert resumed_test["metrics"] == full_test["metrics"]
    ckpts = "runs/digits/kd/checkpoints"
    assert_same_weights(tmp_path / "full" / ckpts / "last.ckpt", tmp_path / "resumed" / ckpts / "last.ckpt")
    assert torch.load(tmp_path / "resumed" / ckpts / "last.ckpt", weights_only=True)["epoch"] == 2


def test_icarl_killed_in_third_task_and_resumed_ends_like_uninterrupted(tmp_path):
    # 5 tasks x 2 epochs; epoch 5 is the second epoch of task 2 (0-based): the kill comes mid-task, after the
    # checkpoint of the task's first epoch, so the old model, exemplars and class means must come from it.
    args = ["fit", "--config", str(CONFIGS / "split_digits/icarl.yaml"), "--trainer.max_epochs", "10",
            "--data.init_args.epochs_per_task", "2", *QUIET]
    (tmp_path / "full").mkdir()
    run_in_process(args + dump(tmp_path / "full/dump"), tmp_path / "full")
    killed_then_resumed(args + dump(tmp_path / "resumed/dump"), tmp_path / "resumed", epoch=5)

    full, resumed = read_dumps(tmp_path / "full/dump")[0], read_dumps(tmp_path / "resumed/dump")[0]
    assert resumed["exemplars"] == full["exemplars"] and len(full["exemplars"]) == 200
    assert resumed["class_means"] == full["class_means"]
    assert resumed["metrics"]["val/acc"] == full["metrics"]["val/acc"]

    def final_report(run: str) -> dict:
        reports = sorted((tmp_path / run / "runs/split_digits/icarl").glob("version_*/continual_metrics.json"))
        return json.loads(reports[-1].read_text())  # the resumed run logs to a new version directory

    full_report, resumed_report = final_report("full"), final_report("resumed")
    assert full_report["tasks_done"] == 5
    assert resumed_report == full_report
    ckpts = "runs/split_digits/icarl/checkpoints"
    assert_same_weights(tmp_path / "full" / ckpts / "last.ckpt", tmp_path / "resumed" / ckpts / "last.ckpt")


def test_kill_during_checkpoint_save_leaves_previous_last_ckpt_loadable(tmp_path):
    # Lightning's _atomic_save serialises into memory, then writes through fsspec's transaction: a temporary file
    # (in TMPDIR) moved onto last.ckpt once complete. Kill half-way through writing the second last.ckpt.
    (tmp_path / "tmp").mkdir()
    args = ["fit", "--config", str(CONFIGS / "digits/student.yaml"), "--trainer.max_epochs", "3",
            "--test_after_fit", "false", *QUIET]
    kill = ["--trainer.callbacks+=ddp_probe.KillDuringSave", "--trainer.callbacks.filename", "last.ckpt",
            "--trainer.callbacks.save", "2"]
    result = run_cli(args + kill, cwd=tmp_path, TMPDIR=str(tmp_path / "tmp"))
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    last = tmp_path / "runs/digits/student/checkpoints/last.ckpt"
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == 0  # the first save, intact; the interrupted one never reached last.ckpt
    partial = list((tmp_path / "tmp").iterdir())
    assert len(partial) == 1 and 0 < partial[0].stat().st_size < last.stat().st_size  # it did die mid-write
    # And the intact checkpoint resumes.
    run_in_process(args + ["--ckpt_path", "last"], tmp_path)
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 2
