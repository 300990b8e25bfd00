"""Any torchvision classification model, by name, as a class that configs can point at."""

from typing import Optional

import torchvision
from torch import Tensor, nn


class TorchvisionModel(nn.Module):
    def __init__(self, name: str, weights: Optional[str] = None, num_classes: Optional[int] = None) -> None:
        """A torchvision model built with ``torchvision.models.get_model``.

        A class rather than torchvision's factory functions because LightningCLI configs take a class for an
        ``nn.Module`` argument: ``class_path: lit_kd.models.TorchvisionModel``,
        ``init_args: {name: resnet18, weights: DEFAULT}``.

        Args:
            name: the model's name in torchvision, e.g. ``"resnet18"`` or ``"mobilenet_v3_small"``.
            weights: pretrained weights to download (``"DEFAULT"`` or a name such as ``"IMAGENET1K_V1"``);
                this needs internet access the first time. ``None`` builds the model randomly initialised.
            num_classes: number of outputs; by default torchvision's (1000 for ImageNet models).
        """
        super().__init__()
        if name not in torchvision.models.list_models(module=torchvision.models):
            raise ValueError(f"`name` {name!r} is not a torchvision classification model")
        kwargs = {} if num_classes is None else {"num_classes": num_classes}
        self.net = torchvision.models.get_model(name, weights=weights, **kwargs)
        self.num_classes = num_classes if num_classes is not None else self._count_outputs()

    def _count_outputs(self) -> int:
        return [m for m in self.net.modules() if isinstance(m, nn.Linear)][-1].out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
