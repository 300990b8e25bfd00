import os
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from lit_kd.data import MNISTDataModule
from lit_kd.data.transforms import translate


def test_in_memory_loading(fake_mnist):
    data_dir, arrays = fake_mnist
    dm = MNISTDataModule(data_dir, val_size=50, batch_size=16)
    dm.setup("fit")
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (250, 50, 100)
    assert dm.num_classes == 10 and dm.input_shape == (1, 28, 28)
    images, labels = arrays["train"]
    idx = dm.source_indices["val"]
    assert torch.equal(dm.val_dataset.inputs[:, 0], torch.from_numpy(images)[idx])
    assert torch.equal(dm.val_dataset.targets, torch.from_numpy(labels).long()[idx])
    all_train = torch.cat([dm.source_indices["train"], idx]).sort().values
    assert torch.equal(all_train, torch.arange(300))
    x, y, i = next(iter(dm.test_dataloader()))
    assert x.dtype == torch.uint8 and x.shape == (16, 1, 28, 28)  # raw on the host, scaled on the device
    assert y.dtype == i.dtype == torch.int64
    out = dm.on_after_batch_transfer((x, y, i), 0)[0]
    torch.testing.assert_close(out, (x.float() / 255 - 0.1307) / 0.3081)


def test_split_depends_on_seed(fake_mnist):
    data_dir, _ = fake_mnist
    a, b = MNISTDataModule(data_dir, val_size=50, seed=0), MNISTDataModule(data_dir, val_size=50, seed=1)
    a.setup(), b.setup()
    assert not torch.equal(a.source_indices["val"], b.source_indices["val"])


def test_per_sample_path_matches_in_memory(fake_mnist):
    data_dir, _ = fake_mnist
    fast = MNISTDataModule(data_dir, val_size=50, batch_size=40)
    slow = MNISTDataModule(data_dir, val_size=50, batch_size=40, in_memory=False, jitter=2)
    for split in ("val", "test"):
        x_fast, y_fast, i_fast = fast.on_after_batch_transfer(next(iter(getattr(fast, f"{split}_dataloader")())), 0)
        x_slow, y_slow, i_slow = slow.on_after_batch_transfer(next(iter(getattr(slow, f"{split}_dataloader")())), 0)
        torch.testing.assert_close(x_fast, x_slow)
        assert torch.equal(y_fast, y_slow) and torch.equal(i_fast, i_slow)
    assert torch.equal(fast.train_targets(), slow.train_targets())


def test_subset_batches_carry_split_indices_on_both_paths(fake_mnist):
    data_dir, _ = fake_mnist
    for in_memory in (True, False):
        dm = MNISTDataModule(data_dir, val_size=50, in_memory=in_memory)
        dm.setup()
        loader = dm._dataloader(Subset(dm.train_dataset, [7, 3, 200]), train=False)
        x, y, i = dm.on_after_batch_transfer(next(iter(loader)), 0)
        assert i.tolist() == [7, 3, 200] and torch.equal(y, dm.train_targets()[[7, 3, 200]])
        assert x.dtype == torch.float32 and x.shape == (3, 1, 28, 28)


def is_translation(augmented, original, max_shift):
    shifts = range(-max_shift, max_shift + 1)
    for dy in shifts:
        for dx in shifts:
            moved = translate(original[None], torch.tensor([dy]), torch.tensor([dx]))[0]
            if torch.allclose(augmented, moved, atol=1e-6):
                return True
    return False


def pixels(x):
    return x * 0.3081 + 0.1307


def test_jitter_translates_training_inputs_only(fake_mnist):
    data_dir, _ = fake_mnist
    dm = MNISTDataModule(data_dir, val_size=50, jitter=2)
    assert dm.augments_training_inputs and not MNISTDataModule(data_dir).augments_training_inputs
    dm.setup()
    batch = dm.train_dataset.__getitems__(list(range(16)))
    raw = batch[0].float() / 255
    torch.manual_seed(0)
    dm.trainer = SimpleNamespace(training=True)
    augmented = pixels(dm.on_after_batch_transfer(batch, 0)[0])
    assert all(is_translation(a, r, 2) for a, r in zip(augmented, raw))
    assert not torch.allclose(augmented, raw, atol=1e-6)
    dm.trainer = SimpleNamespace(training=False)  # validating, testing, predicting
    torch.testing.assert_close(pixels(dm.on_after_batch_transfer(batch, 0)[0]), raw)


def test_jitter_per_sample_path(fake_mnist):
    data_dir, _ = fake_mnist
    slow = MNISTDataModule(data_dir, val_size=50, jitter=2, in_memory=False)
    fast = MNISTDataModule(data_dir, val_size=50)
    assert slow.augments_training_inputs
    slow.setup(), fast.setup()
    torch.manual_seed(0)
    augmented = torch.stack([slow.train_dataset[k][0] for k in range(16)])
    raw = fast.train_dataset.inputs[:16].float() / 255
    assert all(is_translation(a, r, 2) for a, r in zip(pixels(augmented), raw))
    assert not torch.allclose(pixels(augmented), raw, atol=1e-6)


class _CountingModule(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(28 * 28, 10)
        self.val_steps = 0

    def training_step(self, batch, batch_idx):
        x, y, i = batch
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28) and i.dtype == torch.int64
        return nn.functional.cross_entropy(self.layer(x.flatten(1)), y)

    def validation_step(self, batch, batch_idx):
        self.val_steps += 1

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize(("val_size", "expected_val_steps"), [(0, 0), (50, 2)])
def test_trainer_runs_and_val_size_zero_skips_validation(fake_mnist, val_size, expected_val_steps):
    data_dir, _ = fake_mnist
    dm = MNISTDataModule(data_dir, val_size=val_size, batch_size=32, jitter=1)
    if val_size == 0:
        assert dm.val_dataloader() == []
    model = _CountingModule()
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        num_sanity_val_steps=0,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2 and model.val_steps == expected_val_steps


def test_missing_files_fail_early_with_a_helpful_message(fake_mnist):
    data_dir, _ = fake_mnist
    os.remove(os.path.join(data_dir, "MNIST", "raw", "t10k-images-idx3-ubyte"))
    os.remove(os.path.join(data_dir, "MNIST", "raw", "train-labels-idx1-ubyte"))
    with pytest.raises(FileNotFoundError) as info:
        MNISTDataModule(data_dir)
    message = str(info.value)
    assert os.path.join("MNIST", "raw", "t10k-images-idx3-ubyte") in message
    assert os.path.join("MNIST", "raw", "train-labels-idx1-ubyte") in message
    assert "train-images-idx3-ubyte" not in message
    assert os.path.abspath(data_dir) in message and "download: true" in message and "data_dir" in message
    MNISTDataModule(data_dir, download=True)  # downloads in prepare_data, which is not called here


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_workers": -1}, "num_workers"),
        ({"val_size": -1}, "val_size"),
        ({"val_size": 60_000}, "val_size"),
        ({"jitter": -1}, "jitter"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        MNISTDataModule(str(tmp_path), download=True, **kwargs)


def test_val_size_larger_than_the_files_fails_in_setup(fake_mnist):
    dm = MNISTDataModule(fake_mnist[0], val_size=300)
    with pytest.raises(ValueError, match="val_size"):
        dm.setup()
