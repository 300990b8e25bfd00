"""Fully connected classifier, the network of Hinton et al. (2015) §3."""

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["MLP"]


def _check_probability(name: str, value: float) -> None:
    # p == 1 would zero every activation, so the upper bound is open.
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1), got {value}.")


class MLP(nn.Module):
    """Multi-layer perceptron with ReLU hidden layers.

    The input is flattened first, so the same class serves 8x8 digit images,
    28x28 MNIST or pre-flattened vectors. The distillation setup of Hinton et
    al. (2015) §3 is ``MLP(784, (1200, 1200), 10, dropout=0.5, input_dropout=0.2)``
    as teacher and ``MLP(784, (800, 800), 10)`` as student.

    Args:
        in_features: Number of input features after flattening (64 for 8x8
            digits, 784 for MNIST).
        hidden_sizes: Width of each hidden layer; empty gives a linear model.
        num_classes: Number of output logits.
        dropout: Dropout probability after every hidden layer, in [0, 1).
        input_dropout: Dropout probability on the flattened input, in [0, 1).

    Raises:
        ValueError: If a size is not positive or a probability is outside [0, 1).
    """

    def __init__(
        self,
        in_features: int = 64,
        hidden_sizes: Sequence[int] = (256, 256),
        num_classes: int = 10,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"`in_features` must be >= 1, got {in_features}.")
        hidden_sizes = tuple(hidden_sizes)
        if any(h < 1 for h in hidden_sizes):
            raise ValueError(f"`hidden_sizes` must all be >= 1, got {hidden_sizes}.")
        if num_classes < 1:
            raise ValueError(f"`num_classes` must be >= 1, got {num_classes}.")
        _check_probability("dropout", dropout)
        _check_probability("input_dropout", input_dropout)

        self.num_classes = num_classes
        self.feature_dim = hidden_sizes[-1] if hidden_sizes else in_features

        layers: list[nn.Module] = [nn.Flatten(1)]
        if input_dropout > 0:
            layers.append(nn.Dropout(input_dropout))
        width = in_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(self.feature_dim, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """Return the last hidden activation, shape ``(N, feature_dim)``.

        The last dropout is part of the features so that ``forward`` is exactly
        ``head(forward_features(x))``; call in eval mode for deterministic
        embeddings.
        """
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))
