import pytest
from fake_datasets import write_fake_cifar10, write_fake_cifar100, write_fake_mnist


@pytest.fixture
def fake_mnist(tmp_path):
    """``(data_dir, arrays)`` of a 300/100-sample fake MNIST; ``arrays[split] = (images, labels)``."""
    return str(tmp_path), write_fake_mnist(str(tmp_path))


@pytest.fixture
def fake_cifar10(tmp_path):
    """``(data_dir, arrays)`` of a 100/40-sample fake CIFAR-10; images are CIFAR's flat (N, 3072) rows."""
    return str(tmp_path), write_fake_cifar10(str(tmp_path))


@pytest.fixture
def fake_cifar100(tmp_path):
    """``(data_dir, arrays)`` of a 120/40-sample fake CIFAR-100 (fine labels)."""
    return str(tmp_path), write_fake_cifar100(str(tmp_path))
