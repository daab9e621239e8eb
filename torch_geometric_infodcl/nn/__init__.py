from .psnet import PSNetNoise, safe_svd
from .diffusion import DiffusionDenoiser, beta_schedule, timestep_embedding
from .lightgcn_inference import LightGCNInference
from .losses import (
    bpr_loss,
    info_nce_loss,
    reconstruction_loss,
    l2_reg_loss,
    balance_loss_norm,
    balance_loss_ratio,
)

__all__ = [
    'PSNetNoise',
    'safe_svd',
    'DiffusionDenoiser',
    'beta_schedule',
    'timestep_embedding',
    'LightGCNInference',
    'bpr_loss',
    'info_nce_loss',
    'reconstruction_loss',
    'l2_reg_loss',
    'balance_loss_norm',
    'balance_loss_ratio',
]
