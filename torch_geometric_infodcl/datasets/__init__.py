r"""Recommendation datasets as :class:`~torch_geometric.data.HeteroData`
graphs (see :mod:`~torch_geometric_infodcl.datasets.graph` for the
attributes): one class per source, :class:`InteractionFolder` for your own
files, :class:`Synthetic`, and :class:`RecommenderDataset` to open any of
them by name."""
from .files import DataFileError
from .graph import EDGE_TYPE
from .base import DatasetDownloadError, InteractionDataset, FileDataset
from .text_format import FormatDetectionError
from .layouts import FORMATS
from .synthetic import Synthetic, generate_synthetic
from .office import Office
from .gowalla import Gowalla
from .movielens import MovieLens1M, MovieLens1MDiffRec, MovieLens1MRatings
from .amazon import AmazonBaby, AmazonElectronics
from .taobao import Taobao
from .folder import InteractionFolder
from .registry import (DATASETS, DATASET_NAMES, RecommenderDataset,
                       load_dataset)

__all__ = [
    'RecommenderDataset',
    'load_dataset',
    'DATASETS',
    'DATASET_NAMES',
    'InteractionDataset',
    'FileDataset',
    'Synthetic',
    'Office',
    'Gowalla',
    'MovieLens1M',
    'MovieLens1MDiffRec',
    'MovieLens1MRatings',
    'AmazonBaby',
    'AmazonElectronics',
    'Taobao',
    'InteractionFolder',
    'generate_synthetic',
    'EDGE_TYPE',
    'FORMATS',
    'DataFileError',
    'DatasetDownloadError',
    'FormatDetectionError',
]
