"""CIFAR ResNets (He et al., 2016) as used throughout the KD literature.

The architecture follows RepDistiller (Tian et al., 2020, ``models/resnet.py``),
whose resnet8x4 / resnet32x4 / resnet56 / ... are the de-facto teachers and
students of CRD-style benchmarks. Module names (``conv1``, ``bn1``,
``layer1..3``, ``downsample``) are kept so RepDistiller checkpoints load after
renaming ``fc.*`` to ``head.*``. Differences that do not change the network on
32x32 inputs: adaptive instead of fixed 8x8 average pooling (so other input
sizes work), and no ``is_feat``/``preact`` outputs (use forward hooks instead).
"""

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = [
    "BasicBlock",
    "CIFARResNet",
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


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection.

    Args:
        in_planes: Input channels.
        planes: Output channels.
        stride: Stride of the first convolution.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        # Option B (projection) shortcut whenever the shape changes, as in
        # RepDistiller; this is also what makes the x4 nets' layer1 project 32->64.
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # Out-of-place add and ReLU leave bn2's output (the pre-activation
        # feature some KD losses use) intact for forward hooks.
        return nn.functional.relu(out + identity)


class CIFARResNet(nn.Module):
    """ResNet for 32x32 inputs with ``3n`` basic blocks in three stages.

    A 3x3 stem conv maps RGB to ``widths[0]`` channels, then three stages of
    ``n = (depth - 2) / 6`` blocks with ``widths[1..3]`` channels and strides
    1, 2, 2, global average pooling and a linear head.

    Args:
        depth: Total number of weighted layers; must be ``6n + 2`` with n >= 1
            (8, 14, 20, 32, 44, 56, 110, ...).
        widths: Four channel counts: stem, then stages 1-3. ``(16, 16, 32, 64)``
            is the standard CIFAR ResNet, ``(32, 64, 128, 256)`` the "x4" one.
        num_classes: Number of output logits.

    Raises:
        ValueError: If ``depth`` is not 6n+2, ``widths`` is not four positive
            ints, or ``num_classes`` < 1.
    """

    def __init__(
        self,
        depth: int = 32,
        widths: Sequence[int] = (16, 16, 32, 64),
        num_classes: int = 100,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"`depth` must be 6n+2 with n >= 1 (8, 14, 20, 32, ...), got {depth}.")
        widths = tuple(widths)
        if len(widths) != 4 or any(w < 1 for w in widths):
            raise ValueError(f"`widths` must be four positive ints, got {widths}.")
        if num_classes < 1:
            raise ValueError(f"`num_classes` must be >= 1, got {num_classes}.")

        self.depth = depth
        self.widths = widths
        self.num_classes = num_classes
        self.feature_dim = widths[3]
        n = (depth - 2) // 6

        self.conv1 = _conv3x3(3, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_stage(widths[0], widths[1], n, stride=1)
        self.layer2 = self._make_stage(widths[1], widths[2], n, stride=2)
        self.layer3 = self._make_stage(widths[2], widths[3], n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(widths[3], num_classes)

        # Same init as RepDistiller; the head keeps PyTorch's default.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _make_stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(in_planes, planes, stride)]
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: Tensor) -> Tensor:
        """Return the pooled embedding, shape ``(N, feature_dim)``."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.avgpool(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))


_BASE = (16, 16, 32, 64)
_X4 = (32, 64, 128, 256)


def resnet8(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-8, widths (16, 16, 32, 64).

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(8, _BASE, num_classes)


def resnet14(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-14, widths (16, 16, 32, 64).

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(14, _BASE, num_classes)


def resnet20(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-20, widths (16, 16, 32, 64); about 0.28M parameters.

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(20, _BASE, num_classes)


def resnet32(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-32, widths (16, 16, 32, 64); about 0.47M parameters.

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(32, _BASE, num_classes)


def resnet44(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-44, widths (16, 16, 32, 64).

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(44, _BASE, num_classes)


def resnet56(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-56, widths (16, 16, 32, 64); about 0.86M parameters.

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(56, _BASE, num_classes)


def resnet110(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-110, widths (16, 16, 32, 64); about 1.7M parameters.

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(110, _BASE, num_classes)


def resnet8x4(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-8 with 4x wider stages, widths (32, 64, 128, 256); about 1.23M parameters.

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(8, _X4, num_classes)


def resnet32x4(num_classes: int = 100) -> CIFARResNet:
    """CIFAR ResNet-32 with 4x wider stages, widths (32, 64, 128, 256); about 7.43M parameters.

    Args:
        num_classes: Number of output logits.
    """
    return CIFARResNet(32, _X4, num_classes)
