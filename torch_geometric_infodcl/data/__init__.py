from .dataset import RecommenderDataset, DatasetDownloadError, load_dataset
from .synthetic import generate_synthetic
from .sampling import TrainBatch, NegativeSampler

__all__ = [
    'RecommenderDataset',
    'DatasetDownloadError',
    'load_dataset',
    'generate_synthetic',
    'TrainBatch',
    'NegativeSampler',
]
