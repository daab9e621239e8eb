from .dataset import RecommenderDataset, DatasetDownloadError, load_dataset
from .synthetic import generate_synthetic
from .metadata import (
    SimilarityMetadata,
    jaccard_similarity,
    social_metadata,
    knowledge_metadata,
    feature_metadata,
    svd_base,
    lightgcn_base,
)
from .sampling import TrainBatch, NegativeSampler

__all__ = [
    'RecommenderDataset',
    'DatasetDownloadError',
    'load_dataset',
    'generate_synthetic',
    'SimilarityMetadata',
    'jaccard_similarity',
    'social_metadata',
    'knowledge_metadata',
    'feature_metadata',
    'svd_base',
    'lightgcn_base',
    'TrainBatch',
    'NegativeSampler',
]
