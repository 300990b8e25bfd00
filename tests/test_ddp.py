"""Many processes: KD, LwF and iCaRL under DDP on CPU (gloo), through the real CLI and its launch paths.

* Lightning's own launcher (``--config configs/trainer/ddp_cpu.yaml``): KD on digits;
* ``torchrun --nproc_per_node 2 -m lit_kd fit ...`` (the environment-variable path clusters use): iCaRL;
* ``strategy="ddp_spawn"`` inside pytest: LwF.

Each process takes ``batch_size`` samples a step, so the 2-process runs halve it to keep the single-process
optimisation and compare their accuracy with it.
"""

import shutil
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from ddp_probe import CONFIGS, QUIET, digits_teacher, read_dumps, run_cli, working_directory
from helpers import trainer_kwargs
from lit_kd import LwFModule
from lit_kd.cli import cli_main
from lit_kd.data import ClassIncrementalDataModule, DigitsDataModule
from lit_kd.models import MLP

pytestmark = pytest.mark.slow

DDP_CPU = str(CONFIGS / "trainer/ddp_cpu.yaml")
TOLERANCE = 0.06  # "within a few points" of the single-process run: different batches, same optimisation budget


def dump(out: Path) -> list[str]:
    return ["--trainer.callbacks+=ddp_probe.DumpState", "--trainer.callbacks.out_dir", str(out)]


def single_process(args: list[str], root: Path) -> dict:
    root.mkdir()
    with working_directory(root):
        cli_main(args + dump(root / "dump"))
    (state,) = read_dumps(root / "dump")
    return state


def two_processes(args: list[str], root: Path, launcher=None) -> list[dict]:
    root.mkdir()
    result = run_cli(args + dump(root / "dump"), cwd=root, launcher=launcher)
    assert result.returncode == 0, result.stderr[-4000:]
    states = read_dumps(root / "dump")
    assert [s["world_size"] for s in states] == [2, 2] and [s["global_rank"] for s in states] == [0, 1]
    return states


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_kd_under_ddp_matches_single_process(tmp_path):
    teacher = digits_teacher(tmp_path / "teacher", epochs=3)
    args = ["fit", "--config", str(CONFIGS / "digits/kd.yaml"), "--trainer.max_epochs", "3",
            "--model.init_args.teacher_checkpoint", str(teacher), "--test_after_fit", "false", *QUIET]
    single = single_process(args, tmp_path / "single")
    ranks = two_processes(args + ["--config", DDP_CPU, "--data.init_args.batch_size", "32"], tmp_path / "ddp")

    # Metrics are reduced over the ranks: every rank reports the same validation accuracy...
    assert ranks[0]["metrics"]["val/acc"] == ranks[1]["metrics"]["val/acc"]
    assert ranks[0]["metrics"]["val/loss"] == ranks[1]["metrics"]["val/loss"]
    # ...and it is the accuracy on the whole validation set, not on one rank's half: recompute it from the final
    # weights (DistributedSampler pads 359 samples to 360 with one repeat, hence the tolerance of one sample).
    run = tmp_path / "ddp/runs/digits/kd"
    state = torch.load(run / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    student = MLP(in_features=64, hidden_sizes=[32], num_classes=10)
    student.load_state_dict({k[len("student."):]: v for k, v in state.items() if k.startswith("student.")})
    data = DigitsDataModule()
    data.setup()
    x, y = data.val_dataset.inputs, data.val_dataset.targets
    with torch.no_grad():
        full = (student(data.preprocess(x)).argmax(-1) == y).float().mean().item()
    assert abs(ranks[0]["metrics"]["val/acc"] - full) <= 1 / len(y) + 1e-6

    assert abs(ranks[0]["metrics"]["val/acc"] - single["metrics"]["val/acc"]) <= TOLERANCE
    # Written once: one checkpoint of each kind, one log directory.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "version_0"]


def test_icarl_under_torchrun_herds_the_same_exemplars_on_every_rank(tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    args = ["fit", "--config", str(CONFIGS / "split_digits/icarl.yaml"), "--trainer.max_epochs", "5",
            "--data.init_args.epochs_per_task", "1", *QUIET]
    single = single_process(args, tmp_path / "single")
    ranks = two_processes(
        args + ["--config", DDP_CPU, "--data.init_args.dataset.init_args.batch_size", "32"],
        tmp_path / "ddp",
        launcher=[torchrun, "--standalone", "--nproc_per_node", "2"],
    )
    # Herding ran over the features of the whole training set, gathered from both ranks: same exemplars, same
    # class means everywhere, the full budget used.
    assert ranks[0]["exemplars"] == ranks[1]["exemplars"]
    assert len(ranks[0]["exemplars"]) == len(set(ranks[0]["exemplars"])) == 200
    assert ranks[0]["class_means"] == ranks[1]["class_means"]
    assert ranks[0]["metrics"]["val/acc"] == ranks[1]["metrics"]["val/acc"]
    assert abs(ranks[0]["metrics"]["val/acc"] - single["metrics"]["val/acc"]) <= TOLERANCE
    # The accuracy-matrix files and the checkpoint are written once, by rank zero.
    run = tmp_path / "ddp/runs/split_digits/icarl"
    files = files_under(run)
    assert "checkpoints/last.ckpt" in files and len([f for f in files if f.endswith(".ckpt")]) == 1
    assert [f for f in files if f.endswith(".json") or f.endswith(".csv")] == [
        "version_0/accuracy_matrix.csv", "version_0/continual_metrics.json", "version_0/head_accuracy_matrix.csv"
    ]


def test_lwf_under_ddp_spawn(tmp_path):
    # ddp_spawn pickles the module and datamodule into two fresh processes, so everything must be picklable.
    data = ClassIncrementalDataModule(DigitsDataModule(batch_size=32), num_tasks=2, epochs_per_task=1)
    module = LwFModule(MLP(in_features=64, hidden_sizes=[32], num_classes=10), scenario="class")
    initial = {k: v.clone() for k, v in module.model.state_dict().items()}
    trainer = Trainer(**trainer_kwargs(
        tmp_path, max_epochs=2, reload_dataloaders_every_n_epochs=1, strategy="ddp_spawn", devices=2,
    ))
    trainer.fit(module, datamodule=data)
    # The main process gets the trained weights and state back: both rows of the accuracy matrix are filled.
    R = module.accuracy_matrix
    assert not torch.isnan(R[1, :2]).any() and torch.isnan(R[1, 2:]).all()
    assert any(not torch.equal(initial[k], v) for k, v in module.model.state_dict().items())
    # The old model is the snapshot taken at task 1's start, not the final model (both came back from rank 0).
    assert any(not torch.equal(a, b) for a, b in zip(module.old_model.parameters(), module.model.parameters()))
    assert 0.0 <= float(trainer.callback_metrics["val/acc"]) <= 1.0
