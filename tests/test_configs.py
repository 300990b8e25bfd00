"""Every shipped YAML config parses against the CLI, and the protocol arithmetic in it is consistent."""

import pathlib
import sys

import pytest
import yaml

from lit_kd.cli import cli_main

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"
# configs/trainer/ holds trainer fragments meant to be combined with a full config, not run alone.
CONFIGS = sorted(p for p in CONFIG_DIR.rglob("*.yaml") if p.parent.name != "trainer")
IDS = [str(p.relative_to(CONFIG_DIR)) for p in CONFIGS]


def load(path: pathlib.Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def test_configs_found():
    # Guards the parametrised tests below against silently running on nothing.
    assert {"digits", "split_digits", "mnist", "split_mnist", "cifar100"} <= {p.parent.name for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_config_parses(path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lit-kd"])  # pytest's own arguments are not the CLI's
    # --print_config validates every argument against the classes' signatures without instantiating them, so
    # configs whose data_dir is absent here (CIFAR-100) are checked too.
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", str(path), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"].endswith(load(path)["model"]["class_path"].split(".")[-1])


@pytest.mark.parametrize("path", CONFIGS, ids=IDS)
def test_protocol_arithmetic(path):
    config = load(path)
    trainer, data = config["trainer"], config["data"]
    if data["class_path"].endswith("ClassIncrementalDataModule"):
        args = data["init_args"]
        # ClassIncrementalDataModule checks these at setup; a typo would only show after the data is loaded.
        assert trainer["max_epochs"] == args["num_tasks"] * args.get("epochs_per_task", 1)
        assert trainer["reload_dataloaders_every_n_epochs"] == 1
    scheduler = config["model"]["init_args"].get("lr_scheduler") or {}
    if scheduler.get("class_path", "").endswith("CosineAnnealingLR"):
        assert scheduler["init_args"]["T_max"] == trainer["max_epochs"]


@pytest.mark.parametrize("fragment", sorted((CONFIG_DIR / "trainer").glob("*.yaml")), ids=lambda p: p.name)
def test_trainer_fragment_combines(fragment, capsys, monkeypatch):
    # Trainer fragments only make sense on top of an experiment config, as their headers say.
    monkeypatch.setattr(sys, "argv", ["lit-kd"])
    with pytest.raises(SystemExit) as exit_info:
        base = str(CONFIG_DIR / "digits" / "kd.yaml")
        cli_main(["fit", "--config", base, "--config", str(fragment), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    for name, value in load(fragment)["trainer"].items():
        assert printed["trainer"][name] == value
