from .protocol import RecommenderModel, GraphModel, ClosedFormModel
from .infodcl import InfoDCL
from .baselines import MFBPR, PyGLightGCN
from .simgcl import SimGCL, XSimGCL
from .ease import EASE
from .graph_infodcl import GraphInfoDCL
from .fusion import EASEFusion

# The models the CLI and the configuration files know, by name. A model's
# hyperparameters (flags, defaults, help) are read from its constructor's
# signature and docstring: adding a model is one file and one line here.
MODELS = {
    'infodcl': InfoDCL,
    'graph-infodcl': GraphInfoDCL,
    'mf': MFBPR,
    'lightgcn': PyGLightGCN,
    'simgcl': SimGCL,
    'xsimgcl': XSimGCL,
    'ease': EASE,
}

__all__ = ['RecommenderModel', 'GraphModel', 'ClosedFormModel', 'InfoDCL',
           'GraphInfoDCL', 'MFBPR', 'PyGLightGCN', 'SimGCL', 'XSimGCL', 'EASE',
           'EASEFusion', 'MODELS']
