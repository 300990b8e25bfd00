from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader, Subset

from lit_kd.data import DigitsDataModule, InMemoryDataset, collate


@pytest.fixture(scope="module")
def digits():
    dm = DigitsDataModule(batch_size=32, seed=0)
    dm.setup("fit")
    return dm


def test_splits_are_stratified_disjoint_and_cover_the_set(digits):
    idx = digits.source_indices
    assert (len(idx["train"]), len(idx["val"]), len(idx["test"])) == (1079, 359, 359)
    everything = torch.cat([idx["train"], idx["val"], idx["test"]])
    assert torch.equal(everything.sort().values, torch.arange(1797))
    splits = (digits.train_dataset, digits.val_dataset, digits.test_dataset)
    overall = torch.bincount(torch.cat([split.targets for split in splits]))
    for split in splits:
        counts = torch.bincount(split.targets, minlength=10).float()
        expected = overall.float() * len(split) / 1797
        assert (counts - expected).abs().max() <= 1.0


def test_seed_controls_the_split():
    a, b, c = DigitsDataModule(seed=1), DigitsDataModule(seed=1), DigitsDataModule(seed=2)
    for dm in (a, b, c):
        dm.setup()
    assert torch.equal(a.source_indices["test"], b.source_indices["test"])
    assert not torch.equal(a.source_indices["test"], c.source_indices["test"])


def test_batches_follow_the_contract(digits):
    x, y, i = next(iter(digits.train_dataloader()))
    assert x.shape == (32, 1, 8, 8) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and i.dtype == torch.int64 and y.shape == i.shape == (32,)
    assert torch.equal(x, digits.train_dataset.inputs[i]) and torch.equal(y, digits.train_targets()[i])
    for loader in (digits.val_dataloader(), digits.test_dataloader(), digits.predict_dataloader()):
        x, y, i = next(iter(loader))
        torch.testing.assert_close(i, torch.arange(32))  # evaluation loaders are not shuffled
    assert digits.predict_dataloader().dataset is digits.test_dataset


def test_subset_batches_carry_the_original_indices(digits):
    subset = Subset(digits.train_dataset, [5, 17, 3, 1000])
    x, y, i = next(iter(DataLoader(subset, batch_size=4, collate_fn=collate)))
    assert i.tolist() == [5, 17, 3, 1000]
    assert torch.equal(x, digits.train_dataset.inputs[[5, 17, 3, 1000]])
    x, y, i = next(iter(digits._dataloader(subset, train=False, batch_size=2)))
    assert i.tolist() == [5, 17]


def test_in_memory_dataset_items_and_concat_fallback():
    ds = InMemoryDataset(torch.arange(12, dtype=torch.uint8).view(3, 1, 2, 2), torch.tensor([2, 0, 1]))
    x, y, i = ds[-1]
    assert i == 2 and y == 1 and x.flatten().tolist() == [8, 9, 10, 11]
    batch = next(iter(DataLoader(ConcatDataset([ds, ds]), batch_size=6, collate_fn=collate)))
    assert isinstance(batch, tuple) and batch[2].tolist() == [0, 1, 2, 0, 1, 2]
    with pytest.raises(ValueError, match="inputs"):
        InMemoryDataset(torch.zeros(3, 2, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        InMemoryDataset(torch.zeros(3, 1, 2, 2), torch.zeros(2, dtype=torch.long))


def test_normalisation_uses_training_statistics(digits):
    x = digits.preprocess(digits.train_dataset.inputs)
    assert abs(x.mean().item()) < 1e-5 and abs(x.std().item() - 1) < 1e-5
    assert digits.train_dataset.inputs.max() <= 1.0  # stored scaled by 1/16, normalised on the device
    batch = digits.on_after_batch_transfer(digits.val_dataset.__getitems__([0, 1]), 0)
    torch.testing.assert_close(batch[0], (digits.val_dataset.inputs[:2] - digits.mean[0]) / digits.std[0])


def test_no_augmentation(digits):
    assert not digits.augments_training_inputs
    digits.trainer = SimpleNamespace(training=True)
    try:
        batch = digits.train_dataset.__getitems__([0, 1, 2])
        torch.testing.assert_close(digits.on_after_batch_transfer(batch, 0)[0], digits.preprocess(batch[0]))
    finally:
        digits.trainer = None


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_workers": -1}, "num_workers"),
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction"),
        ({"val_fraction": 0.001}, "val_fraction"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DigitsDataModule(**kwargs)
