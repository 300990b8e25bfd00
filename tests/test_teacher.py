import os

import pytest
import torch
from torch import nn

from lit_kd.models import MLP
from lit_kd.teacher import load_state_dict, load_weights


def small_mlp(num_classes=10, hidden=(8,)):
    return MLP(in_features=64, hidden_sizes=hidden, num_classes=num_classes)


def test_plain_state_dict_round_trip(tmp_path):
    source = small_mlp()
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    target = load_weights(small_mlp(), path)
    for a, b in zip(source.state_dict().values(), target.state_dict().values()):
        assert torch.equal(a, b)


def test_lightning_checkpoint_prefix_is_stripped(tmp_path):
    source = small_mlp()
    path = tmp_path / "teacher.ckpt"
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    state["val_acc.tp"] = torch.zeros(1)  # metric state from another sub-module must be ignored
    torch.save({"state_dict": state, "pytorch-lightning_version": "2.6.0", "epoch": 3}, path)
    target = load_weights(small_mlp(), path)
    assert torch.equal(target.head.weight, source.head.weight)
    # A KDModule checkpoint teaches too: its weights sit under "student."
    torch.save({"state_dict": {f"student.{k}": v for k, v in source.state_dict().items()}}, path)
    assert torch.equal(load_weights(small_mlp(), path).head.bias, source.head.bias)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.ckpt"):
        load_weights(small_mlp(), tmp_path / "nowhere.ckpt")


def test_truncated_checkpoint_is_named(tmp_path):
    path = tmp_path / "cut.ckpt"
    torch.save(small_mlp().state_dict(), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="cut.ckpt.*truncated or corrupt"):
        load_weights(small_mlp(), path)


def test_wrong_architecture_lists_the_problem(tmp_path):
    path = tmp_path / "wide.pt"
    torch.save(small_mlp(hidden=(16,)).state_dict(), path)
    with pytest.raises(ValueError, match=r"wide.pt.*shape mismatches"):
        load_weights(small_mlp(hidden=(8,)), path)
    torch.save(small_mlp(hidden=(8, 8)).state_dict(), path)
    with pytest.raises(ValueError, match=r"unexpected keys"):
        load_weights(small_mlp(hidden=(8,)), path)


def test_wrong_number_of_classes(tmp_path):
    path = tmp_path / "five.pt"
    torch.save(small_mlp(num_classes=5).state_dict(), path)
    with pytest.raises(ValueError, match=r"head.weight: checkpoint \(5, 8\) vs model \(10, 8\)"):
        load_weights(small_mlp(), path)


class _Payload:
    """Unpickling this object runs code: a stand-in for a malicious checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_executing_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": small_mlp().state_dict(), "payload": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="refusing to load.*evil.ckpt.*weights_only"):
        load_weights(small_mlp(), path)
    assert not marker.exists()


def test_non_tensor_state_dict_rejected(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(ValueError, match="list.pt.*not a state_dict"):
        load_state_dict(path)


def test_torchvision_model_weights_load(tmp_path):
    from torchvision.models import resnet18

    source = resnet18(num_classes=10)
    path = tmp_path / "resnet18.pt"
    torch.save(source.state_dict(), path)
    target = load_weights(resnet18(num_classes=10), path)
    assert isinstance(target, nn.Module)
    assert torch.equal(target.fc.weight, source.fc.weight)
