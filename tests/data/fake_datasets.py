"""Writers of tiny fake datasets in torchvision's on-disk formats, so the real loading code runs in tests."""

import os
import pickle
import struct

import numpy as np


def write_idx(path: str, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format of the MNIST files (big-endian magic, dims, raw bytes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">I", 0x0800 + array.ndim))  # 0x08: unsigned byte
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def write_fake_mnist(root: str, num_train: int = 300, num_test: int = 100, seed: int = 0) -> dict:
    """``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` with random pixels and labels 0..9."""
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        write_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte"), images)
        write_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte"), labels)
        arrays[prefix] = (images, labels)
    return arrays


def _dump(path: str, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_fake_cifar10(root: str, per_batch: int = 20, num_test: int = 40, seed: int = 0) -> dict:
    """``<root>/cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch`` and ``batches.meta``."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    train_images, train_labels = [], []
    for k in range(1, 6):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)  # rows: R plane, G plane, B plane
        labels = rng.integers(0, 10, size=per_batch).tolist()
        _dump(os.path.join(folder, f"data_batch_{k}"), {"batch_label": f"batch {k}", "data": data, "labels": labels})
        train_images.append(data)
        train_labels += labels
    test = rng.integers(0, 256, size=(num_test, 3072), dtype=np.uint8)
    test_labels = rng.integers(0, 10, size=num_test).tolist()
    _dump(os.path.join(folder, "test_batch"), {"batch_label": "test", "data": test, "labels": test_labels})
    _dump(os.path.join(folder, "batches.meta"), {"label_names": [f"class{i}" for i in range(10)]})
    return {"train": (np.concatenate(train_images), train_labels), "test": (test, test_labels)}


def write_fake_cifar100(root: str, num_train: int = 120, num_test: int = 40, seed: int = 0) -> dict:
    """``<root>/cifar-100-python/`` with ``train``, ``test`` and ``meta``."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-100-python")
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for name, n in (("train", num_train), ("test", num_test)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = rng.integers(0, 100, size=n).tolist()
        coarse = [label // 5 for label in fine]
        _dump(os.path.join(folder, name), {"data": data, "fine_labels": fine, "coarse_labels": coarse})
        arrays[name] = (data, fine)
    meta = {"fine_label_names": [f"fine{i}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]}
    _dump(os.path.join(folder, "meta"), meta)
    return arrays
