import os
from types import SimpleNamespace

import pytest
import torch

from lit_kd.data import CIFAR10DataModule, CIFAR100DataModule
from lit_kd.data.transforms import translate

FIXTURES = {CIFAR10DataModule: "fake_cifar10", CIFAR100DataModule: "fake_cifar100"}


@pytest.fixture(params=[CIFAR10DataModule, CIFAR100DataModule], ids=["cifar10", "cifar100"])
def cifar(request):
    """``(datamodule class, data_dir, arrays)`` for each CIFAR variant."""
    data_dir, arrays = request.getfixturevalue(FIXTURES[request.param])
    return request.param, data_dir, arrays


def as_images(flat_rows):
    # CIFAR's rows hold the R, G and B planes one after the other.
    return torch.from_numpy(flat_rows).view(-1, 3, 32, 32)


def test_loading_through_torchvision(cifar):
    cls, data_dir, arrays = cifar
    dm = cls(data_dir, val_size=20, batch_size=8)
    dm.setup()
    num_train = len(arrays["train"][1])
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (num_train - 20, 20, 40)
    assert dm.num_classes == (10 if cls is CIFAR10DataModule else 100) and dm.input_shape == (3, 32, 32)
    assert torch.equal(dm.test_dataset.inputs, as_images(arrays["test"][0]))
    assert dm.test_dataset.targets.tolist() == arrays["test"][1]
    idx = dm.source_indices["train"]
    assert torch.equal(dm.train_dataset.inputs, as_images(arrays["train"][0])[idx])
    assert torch.equal(dm.train_targets(), torch.tensor(arrays["train"][1])[idx])
    x, y, i = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == i.dtype == torch.int64
    mean, std = torch.tensor(dm.mean).view(3, 1, 1), torch.tensor(dm.std).view(3, 1, 1)
    torch.testing.assert_close(x, (as_images(arrays["test"][0][:8]).float() / 255 - mean) / std)


def test_in_memory_and_per_sample_give_the_same_eval_inputs(cifar):
    cls, data_dir, _ = cifar
    fast = cls(data_dir, val_size=20, batch_size=64)
    slow = cls(data_dir, val_size=20, batch_size=64, in_memory=False)
    for split in ("val", "test"):
        x_fast, y_fast, i_fast = fast.on_after_batch_transfer(next(iter(getattr(fast, f"{split}_dataloader")())), 0)
        x_slow, y_slow, i_slow = slow.on_after_batch_transfer(next(iter(getattr(slow, f"{split}_dataloader")())), 0)
        torch.testing.assert_close(x_fast, x_slow)
        assert torch.equal(y_fast, y_slow) and torch.equal(i_fast, i_slow)
    assert torch.equal(fast.train_targets(), slow.train_targets())


def is_crop_or_flipped_crop(augmented, original, max_shift=4):
    shifts = range(-max_shift, max_shift + 1)
    for dy in shifts:
        for dx in shifts:
            moved = translate(original[None], torch.tensor([dy]), torch.tensor([dx]))[0]
            if torch.allclose(augmented, moved, atol=1e-5) or torch.allclose(augmented, moved.flip(-1), atol=1e-5):
                return True
    return False


@pytest.mark.parametrize("in_memory", [True, False])
def test_standard_augmentation(fake_cifar10, in_memory):
    data_dir, _ = fake_cifar10
    dm = CIFAR10DataModule(data_dir, val_size=20, in_memory=in_memory)
    plain = CIFAR10DataModule(data_dir, val_size=20, augment=False)
    assert dm.augments_training_inputs and not plain.augments_training_inputs
    dm.setup(), plain.setup()
    raw = plain.train_dataset.inputs[:24].float() / 255
    torch.manual_seed(0)
    if in_memory:
        dm.trainer = SimpleNamespace(training=True)
        x = dm.on_after_batch_transfer(dm.train_dataset.__getitems__(list(range(24))), 0)[0]
    else:
        x = torch.stack([dm.train_dataset[k][0] for k in range(24)])
    mean, std = torch.tensor(dm.mean).view(3, 1, 1), torch.tensor(dm.std).view(3, 1, 1)
    augmented = x * std + mean
    assert all(is_crop_or_flipped_crop(a, r) for a, r in zip(augmented, raw))
    assert not torch.allclose(augmented, raw, atol=1e-5)
    # Without augmentation, train-time preprocessing is the plain eval path.
    plain.trainer = SimpleNamespace(training=True)
    batch = plain.train_dataset.__getitems__([0, 1])
    torch.testing.assert_close(plain.on_after_batch_transfer(batch, 0)[0], plain.preprocess(batch[0]))


@pytest.mark.parametrize(
    ("cls", "folder", "files"),
    [
        (CIFAR10DataModule, "cifar-10-batches-py", ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"]),
        (CIFAR100DataModule, "cifar-100-python", ["train", "test", "meta"]),
    ],
)
def test_missing_files_message(tmp_path, cls, folder, files):
    with pytest.raises(FileNotFoundError) as info:
        cls(str(tmp_path))
    message = str(info.value)
    for name in files:
        assert os.path.join(folder, name) in message
    assert str(tmp_path) in message and "download: true" in message and "data_dir" in message


def test_only_missing_files_are_listed(fake_cifar10):
    data_dir, _ = fake_cifar10
    os.remove(os.path.join(data_dir, "cifar-10-batches-py", "data_batch_3"))
    with pytest.raises(FileNotFoundError, match="1 dataset file") as info:
        CIFAR10DataModule(data_dir)
    assert "data_batch_3" in str(info.value) and "data_batch_2" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"batch_size": 0}, "batch_size"), ({"val_size": -5}, "val_size"), ({"val_size": 50_000}, "val_size")],
)
def test_bad_arguments(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        CIFAR100DataModule(str(tmp_path), download=True, **kwargs)
