from lit_kd.modules.classifier import ClassifierModule
from lit_kd.modules.continual import ContinualModule
from lit_kd.modules.icarl import ICaRLModule
from lit_kd.modules.kd import KDModule
from lit_kd.modules.lwf import LwFModule

__all__ = ["ClassifierModule", "ContinualModule", "ICaRLModule", "KDModule", "LwFModule"]
