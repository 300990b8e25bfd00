from lit_kd.callbacks.continual import ContinualMetrics
from lit_kd.callbacks.distillation import DistillationMonitor

__all__ = ["ContinualMetrics", "DistillationMonitor"]
