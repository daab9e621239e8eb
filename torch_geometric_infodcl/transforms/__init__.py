r"""Transforms of the interaction graph (PyG
:class:`~torch_geometric.transforms.BaseTransform`), with the functional forms
they are built from."""
from .similarity_metadata import SimilarityMetadata
from .similarity import (
    jaccard_similarity,
    social_metadata,
    knowledge_metadata,
    feature_metadata,
)
from .base_embeddings import svd_base, lightgcn_base

__all__ = [
    'SimilarityMetadata',
    'jaccard_similarity',
    'social_metadata',
    'knowledge_metadata',
    'feature_metadata',
    'svd_base',
    'lightgcn_base',
]
