"""Plain ``nn.Module`` networks used as teachers and students.

Every model exposes ``num_classes``, ``feature_dim``, a linear ``head`` and
``forward_features(x) -> (N, feature_dim)``, with
``forward(x) == head(forward_features(x))``; the continual-learning modules
(e.g. iCaRL's nearest-mean classifier) rely on this. ``TorchvisionModel`` wraps
any torchvision classifier for distillation (it has no ``forward_features``).

Configs name classes, not the factory functions: ``class_path:
lit_kd.models.CIFARResNet`` with ``init_args: {depth: 32}`` is ``resnet32``.
"""

from lit_kd.models.cnn import SmallCNN
from lit_kd.models.mlp import MLP
from lit_kd.models.resnet_cifar import (
    CIFARResNet,
    resnet8,
    resnet8x4,
    resnet14,
    resnet20,
    resnet32,
    resnet32x4,
    resnet44,
    resnet56,
    resnet110,
)
from lit_kd.models.torchvision_model import TorchvisionModel

__all__ = [
    "MLP",
    "SmallCNN",
    "CIFARResNet",
    "TorchvisionModel",
    "resnet8",
    "resnet14",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet8x4",
    "resnet32x4",
]
