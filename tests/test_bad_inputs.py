"""Bad input through the real CLI: each fails with a message that names the parameter or file, and leaves the
files of earlier runs alone."""

import hashlib
from pathlib import Path

import pytest

from ddp_probe import CONFIGS, QUIET, digits_teacher, working_directory
from lit_kd.cli import cli_main

KD = str(CONFIGS / "digits/kd.yaml")
ICARL = str(CONFIGS / "split_digits/icarl.yaml")
LWF = str(CONFIGS / "split_digits/lwf_task.yaml")
STUDENT_CKPT = "runs/digits/student/checkpoints/best.ckpt"  # an MLP: the wrong architecture for kd.yaml's teacher
SHORT_SPLIT = ["--trainer.max_epochs", "5", "--data.init_args.epochs_per_task", "1"]

# (id, arguments after `fit`, fragments the message must contain). Paths are relative to the run directory.
CASES = [
    ("negative_temperature", ["--config", KD, "--model.init_args.temperature", "-1"], ["temperature", "> 0"]),
    ("zero_temperature", ["--config", KD, "--model.init_args.temperature", "0"], ["temperature"]),
    ("lambda_above_1", ["--config", KD, "--model.init_args.distillation_weight", "1.5"], ["distillation_weight"]),
    ("lambda_below_0", ["--config", KD, "--model.init_args.distillation_weight", "-0.1"], ["distillation_weight"]),
    ("unknown_distance", ["--config", KD, "--model.init_args.distance", "cosine"], ["distance", "cosine"]),
    (
        "teacher_student_sizes_differ",
        ["--config", KD, "--model.init_args.teacher.init_args.num_classes", "5", "--model.init_args.teacher_checkpoint",
         "null"],
        ["teacher", "5", "10"],
    ),
    (
        "student_size_differs_from_data",
        ["--config", KD, "--model.init_args.student.init_args.num_classes", "7"],
        ["num_classes", "7", "10"],
    ),
    ("missing_teacher_checkpoint", ["--config", KD, "--model.init_args.teacher_checkpoint", "nowhere/best.ckpt"],
     ["nowhere/best.ckpt", "not found"]),
    ("truncated_teacher_checkpoint", ["--config", KD, "--model.init_args.teacher_checkpoint", "truncated.ckpt"],
     ["truncated.ckpt", "truncated or corrupt"]),
    ("teacher_checkpoint_not_a_checkpoint", ["--config", KD, "--model.init_args.teacher_checkpoint", "notes.txt"],
     ["notes.txt", "not a readable PyTorch checkpoint"]),
    ("wrong_architecture_checkpoint", ["--config", KD, "--model.init_args.teacher_checkpoint", STUDENT_CKPT],
     [STUDENT_CKPT, "SmallCNN"]),
    ("truncated_resume_checkpoint", ["--config", KD, "--ckpt_path", "truncated.ckpt"],
     ["truncated.ckpt", "not a readable PyTorch checkpoint"]),
    ("resume_checkpoint_not_a_checkpoint", ["--config", KD, "--ckpt_path", "notes.txt"],
     ["notes.txt", "not a readable PyTorch checkpoint"]),
    ("missing_resume_checkpoint", ["--config", KD, "--ckpt_path", "nowhere/last.ckpt"], ["nowhere/last.ckpt"]),
    ("missing_config_file", ["--config", "configs/nowhere.yaml"], ["nowhere.yaml"]),
    ("unknown_parameter", ["--config", KD, "--model.init_args.temprature", "2"], ["temprature"]),
    ("memory_smaller_than_classes", ["--config", ICARL, "--model.init_args.memory_size", "5"], ["memory_size", "5"]),
    ("unknown_icarl_loss", ["--config", ICARL, "--model.init_args.loss", "focal"], ["loss", "focal"]),
    ("classes_per_task_not_dividing",
     ["--config", ICARL, "--data.init_args.num_tasks", "null", "--data.init_args.classes_per_task", "3"],
     ["classes_per_task", "3"]),
    ("num_tasks_not_dividing", ["--config", ICARL, "--data.init_args.num_tasks", "3"], ["num_tasks", "3"]),
    ("class_order_not_a_permutation", ["--config", ICARL, "--data.init_args.class_order", "[0,1,2,3,4,5,6,7,8,8]"],
     ["class_order"]),
    ("max_epochs_mismatch", ["--config", ICARL, "--trainer.max_epochs", "7"], ["max_epochs", "7", "25"]),
    ("lwf_negative_lambda", ["--config", LWF, "--model.init_args.distillation_weight", "-1"],
     ["distillation_weight"]),
    ("icarl_without_task_split",
     ["--config", ICARL, "--data", "lit_kd.data.DigitsDataModule", "--trainer.max_epochs", "1"],
     ["ClassIncrementalDataModule"]),
    ("zero_batch_size", ["--config", KD, "--data.init_args.batch_size", "0"], ["batch_size", "0"]),
    ("validation_fraction_above_1", ["--config", KD, "--data.init_args.val_fraction", "1.5"], ["val_fraction"]),
    (
        "missing_dataset_without_download",
        ["--config", str(CONFIGS / "mnist/teacher.yaml"), "--data.init_args.data_dir", "no_mnist_here",
         "--data.init_args.download", "false"],
        ["no_mnist_here"],
    ),
]


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file under ``root``."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def earlier_runs(tmp_path_factory):
    """A run directory holding a teacher, a scratch student and a KD run (a few epochs each, through the CLI),
    plus a truncated checkpoint and a text file; the bad runs start from here, so they would write here too."""
    root = tmp_path_factory.mktemp("bad_inputs")
    teacher = digits_teacher(root, epochs=1)
    with working_directory(root):
        for name in ("student", "kd"):
            cli_main(["fit", "--config", str(CONFIGS / f"digits/{name}.yaml"), "--trainer.max_epochs", "1",
                      "--test_after_fit", "false", *QUIET])
    data = teacher.read_bytes()
    (root / "truncated.ckpt").write_bytes(data[: len(data) // 3])
    (root / "notes.txt").write_text("not a checkpoint\n")
    return root


@pytest.mark.parametrize("args, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_clearly_and_touches_nothing(earlier_runs, args, expected, capsys, monkeypatch):
    before = snapshot(earlier_runs)
    monkeypatch.chdir(earlier_runs)
    with pytest.raises((SystemExit, Exception)) as info:
        cli_main(["fit", *args, *QUIET])
    err = info.value
    if isinstance(err, SystemExit):
        assert err.code not in (0, None), "a bad input must exit with a non-zero status"
        message = (err.code if isinstance(err.code, str) else "") + capsys.readouterr().err
    else:  # raised during `fit`, after start-up: the console entry point turns it into a traceback and status 1
        message = f"{type(err).__name__}: {err}"
    print(f"MESSAGE: {message.strip().splitlines()[-1] if message.strip() else message}")  # shown with -rP
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in the message:\n{message[-2000:]}"
    # jsonargparse's dump of the whole configuration is not a message.
    assert "Given value: Namespace(" not in message
    after = snapshot(earlier_runs)
    changed = [name for name, stamp in before.items() if after.get(name) != stamp]
    assert not changed, f"files of earlier runs changed: {changed}"
    new_checkpoints = [name for name in set(after) - set(before) if name.endswith(".ckpt")]
    assert not new_checkpoints, f"a failed run wrote checkpoints: {new_checkpoints}"


def test_table_is_large_enough():
    # The issue asks for at least 15 distinct bad inputs; keep the table from shrinking unnoticed.
    assert len({c[0] for c in CASES}) == len(CASES) >= 15

