from lit_kd.callbacks.continual import ContinualMetrics
from lit_kd.callbacks.distillation import DistillationMonitor
from lit_kd.callbacks.rng import RNGStateCheckpoint

__all__ = ["ContinualMetrics", "DistillationMonitor", "RNGStateCheckpoint"]
