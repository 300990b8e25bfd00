"""A small convolutional classifier for quick experiments on tiny images."""

from torch import Tensor, nn

__all__ = ["SmallCNN"]


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        # No conv bias: the following BatchNorm has its own shift.
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU blocks, global average pooling and a linear head.

    Channels are ``width, 2*width, 4*width`` with strides 1, 2, 2. Global
    average pooling makes the network size-agnostic, so it runs unchanged on
    8x8 digits, 28x28 MNIST and 32x32 CIFAR.

    Args:
        in_channels: Number of input image channels (1 for grey, 3 for RGB).
        num_classes: Number of output logits.
        width: Channels of the first block; later blocks double it.
        dropout: Dropout probability on the pooled features, in [0, 1).

    Raises:
        ValueError: If a size is not positive or ``dropout`` is outside [0, 1).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"`in_channels` must be >= 1, got {in_channels}.")
        if num_classes < 1:
            raise ValueError(f"`num_classes` must be >= 1, got {num_classes}.")
        if width < 1:
            raise ValueError(f"`width` must be >= 1, got {width}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout}.")

        self.num_classes = num_classes
        self.feature_dim = 4 * width
        self.features = nn.Sequential(
            _conv_bn_relu(in_channels, width, stride=1),
            _conv_bn_relu(width, 2 * width, stride=2),
            _conv_bn_relu(2 * width, 4 * width, stride=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(1),
            # Inside the features so that forward == head(forward_features).
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
        )
        self.head = nn.Linear(self.feature_dim, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """Return the pooled embedding, shape ``(N, feature_dim)``."""
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))
