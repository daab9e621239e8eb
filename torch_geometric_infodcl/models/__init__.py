from .infodcl import InfoDCL
from .baselines import MFBPR, PyGLightGCN

__all__ = ['InfoDCL', 'MFBPR', 'PyGLightGCN']
