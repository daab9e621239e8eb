r"""InfoDCL (informative-noise diffusion contrastive learning for
recommendation) as composable PyTorch Geometric modules."""
# First, before torch loads OpenMP: a short spin for its idle threads, so
# that runs side by side do not stall each other (see openmp.py).
from .openmp import set_default_wait

set_default_wait()

from .nn import (  # noqa: E402
    PSNetNoise,
    DiffusionDenoiser,
    LightGCNInference,
    bpr_loss,
    info_nce_loss,
    reconstruction_loss,
    l2_reg_loss,
    balance_loss_norm,
    balance_loss_ratio,
)
from .models import InfoDCL, MFBPR, PyGLightGCN, SimGCL, XSimGCL, EASE
from .data import TrainBatch
from .datasets import RecommenderDataset
from .transforms import SimilarityMetadata
from .metrics import full_rank_metrics
from .train import Trainer, TrainConfig

__version__ = '0.1.0'

__all__ = [
    'PSNetNoise',
    'DiffusionDenoiser',
    'LightGCNInference',
    'bpr_loss',
    'info_nce_loss',
    'reconstruction_loss',
    'l2_reg_loss',
    'balance_loss_norm',
    'balance_loss_ratio',
    'InfoDCL',
    'MFBPR',
    'PyGLightGCN',
    'SimGCL',
    'XSimGCL',
    'EASE',
    'RecommenderDataset',
    'SimilarityMetadata',
    'TrainBatch',
    'full_rank_metrics',
    'Trainer',
    'TrainConfig',
    '__version__',
]
