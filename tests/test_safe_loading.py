"""A checkpoint whose unpickling runs code is refused wherever lit-kd reads one: as a teacher and as a resume.

tests/test_teacher.py covers ``lit_kd.teacher`` at the function level; these go through the CLI.
"""

from pathlib import Path

import pytest
import torch

from ddp_probe import CONFIGS, QUIET, digits_teacher
from lit_kd.cli import cli_main

KD = str(CONFIGS / "digits/kd.yaml")


class _Marker:
    """Unpickling this creates the file ``path``: harmless, but proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def evil_copy(checkpoint: Path, out: Path, marker: Path) -> Path:
    """``checkpoint`` with a code-running object added: a real checkpoint in every other respect."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["payload"] = _Marker(marker)
    torch.save(state, out)
    return out


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return digits_teacher(tmp_path_factory.mktemp("safe_loading"), epochs=1)


@pytest.fixture(autouse=True)
def _permissive_torch(monkeypatch):
    # The worst case: torch told to default to full unpickling. lit-kd must still pass weights_only=True itself.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


def test_code_running_teacher_checkpoint_is_refused(teacher, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    evil = evil_copy(teacher, tmp_path / "evil.ckpt", marker)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli_main(["fit", "--config", KD, "--model.init_args.teacher_checkpoint", str(evil), *QUIET])
    message = str(info.value.code)
    assert "refusing to load" in message and "evil.ckpt" in message and "weights_only=True" in message
    assert "open" in message.split("Details:")[-1]  # names what it refused to build
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the payload is live: full unpickling does run it
    assert marker.exists()


def test_code_running_resume_checkpoint_is_refused(teacher, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", KD, "--model.init_args.teacher_checkpoint", str(teacher), "--trainer.max_epochs", "1",
            "--test_after_fit", "false", *QUIET]
    cli_main(args)
    last = tmp_path / "runs/digits/kd/checkpoints/last.ckpt"
    marker = tmp_path / "pwned"
    evil_copy(last, last, marker)
    # "last" is resolved and loaded by the Trainer; an explicit path is read first by LightningCLI (hyper-parameters).
    for ckpt_path in ("last", str(last)):
        with pytest.raises(SystemExit) as info:
            cli_main(args[:-len(QUIET)] + ["--trainer.max_epochs", "2", "--ckpt_path", ckpt_path, *QUIET])
        message = str(info.value.code)
        assert "refusing to load" in message and f"--ckpt_path {ckpt_path}" in message
        assert "open" in message.split("Details:")[-1]
        assert "--weights_only false" in message  # the opt-in, named as such
        assert not marker.exists()


def test_lit_kd_checkpoints_themselves_load_weights_only(teacher):
    # Everything lit-kd writes (hyper-parameters, callback and RNG states, loops) must survive weights_only=True,
    # or the enforcement above would break resuming honest runs.
    checkpoint = torch.load(teacher, map_location="cpu", weights_only=True)
    assert "RNGStateCheckpoint" in checkpoint["callbacks"]
    assert checkpoint["state_dict"]
