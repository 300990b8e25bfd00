"""lit-kd: knowledge distillation and distillation-based continual learning for PyTorch Lightning."""

from lit_kd.callbacks import ContinualMetrics, DistillationMonitor
from lit_kd.losses import sigmoid_distillation_loss, soft_target_loss, soft_targets
from lit_kd.modules import ClassifierModule, ContinualModule, ICaRLModule, KDModule, LwFModule

__version__ = "0.1.0"

__all__ = [
    "ClassifierModule",
    "ContinualMetrics",
    "ContinualModule",
    "DistillationMonitor",
    "ICaRLModule",
    "KDModule",
    "LwFModule",
    "sigmoid_distillation_loss",
    "soft_target_loss",
    "soft_targets",
]
