import pytest
import torch
from lightning.pytorch import Trainer

from helpers import trainer_kwargs
from lit_kd import ContinualModule
from lit_kd.data import ClassIncrementalDataModule, DigitsDataModule
from lit_kd.models import MLP


def split(**kwargs):
    return ClassIncrementalDataModule(DigitsDataModule(batch_size=32), **kwargs)


class _FakeTrainer:
    """Just enough of a Trainer for the datamodule to know the epoch."""

    def __init__(self, epoch, fn="fit"):
        self.current_epoch = epoch
        self.training = False
        self.lightning_module = None
        self.state = type("State", (), {"fn": fn})()


def labels_of(loader, dm):
    ys, tasks = [], []
    for batch in loader:
        _, y, _, t = dm.prepare_batch(batch)
        ys.append(y)
        tasks.append(t)
    return torch.cat(ys), torch.cat(tasks)


def test_tasks_are_disjoint_renumbered_and_follow_the_epoch():
    dm = split(num_tasks=5, class_order=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0], epochs_per_task=2)
    dm.setup("validate")
    seen_inputs = []
    for task in range(5):
        dm.trainer = _FakeTrainer(epoch=2 * task + 1)
        y, t = labels_of(dm.train_dataloader(), dm)
        assert set(y.tolist()) == {2 * task, 2 * task + 1}
        assert (t == task).all()
        x, _, idx = next(iter(dm.train_dataloader()))
        # Renumbered label 0 is original digit 9: check against the wrapped dataset itself.
        original = dm.dataset.train_dataset.targets[idx]
        torch.testing.assert_close(dm.label_map[original], dm.prepare_batch((x, original, idx))[1])
        seen_inputs.append(set(dm.indices_of_classes(dm.task_classes(task)).tolist()))
        # Evaluation covers every task seen so far.
        val_y, _ = labels_of(dm.val_dataloader(), dm)
        assert set(val_y.tolist()) == set(range(2 * task + 2))
    for a in range(5):
        for b in range(a + 1, 5):
            assert not seen_inputs[a] & seen_inputs[b]
    assert sum(map(len, seen_inputs)) == len(dm.dataset.train_dataset)


def test_class_order_from_seed_is_a_reproducible_permutation():
    a, b = split(classes_per_task=2, class_order_seed=1993), split(classes_per_task=2, class_order_seed=1993)
    assert a.class_order == b.class_order != list(range(10))
    assert sorted(a.class_order) == list(range(10))


def test_batches_per_task_and_cumulative():
    dm = split(num_tasks=5, batches_per_task=6, epochs_per_task=2, cumulative=True)
    dm.setup("fit")
    dm.trainer = _FakeTrainer(epoch=5)  # task 2
    loader = dm.train_dataloader()
    assert len(loader) == 3  # 6 batches spread over 2 epochs
    y, _ = labels_of(loader, dm)
    assert len(y) == 3 * 32
    assert set(y.tolist()) <= set(range(6)) and len(set(y.tolist())) > 2  # tasks 0..2, not only the current one


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"classes_per_task": 3}, "`classes_per_task`=3 does not divide the 10 classes"),
        ({"num_tasks": 4}, "`num_tasks`=4 does not divide the 10 classes"),
        ({"num_tasks": 5, "classes_per_task": 2}, "exactly one of `num_tasks` and `classes_per_task`"),
        ({}, "exactly one of `num_tasks` and `classes_per_task`"),
        ({"num_tasks": 5, "class_order": [0, 1, 2]}, "`class_order` must be a permutation"),
        ({"num_tasks": 5, "epochs_per_task": 0}, "`epochs_per_task`"),
        ({"num_tasks": 5, "epochs_per_task": 2, "batches_per_task": 5}, "multiple of `epochs_per_task`"),
        ({"num_tasks": 5, "eval_split": "train"}, "`eval_split`"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        split(**kwargs)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"max_epochs": 7}, "`trainer.max_epochs` is 7, but 5 tasks of `epochs_per_task`=1 need max_epochs=5"),
        ({"max_epochs": 5, "reload_dataloaders_every_n_epochs": 0}, "reload_dataloaders_every_n_epochs: 1"),
    ],
)
def test_trainer_settings_that_break_the_sequence_fail_at_setup(tmp_path, overrides, match):
    module = ContinualModule(MLP(64, (8,), 10))
    with pytest.raises(ValueError, match=match):
        Trainer(**trainer_kwargs(tmp_path, **overrides)).fit(module, datamodule=split(num_tasks=5))
