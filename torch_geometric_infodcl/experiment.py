r"""Glue shared by :obj:`examples/train_infodcl.py` and the benchmarks: load a
dataset, build its metadata channels and construct a model for it."""
import os.path as osp
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch_geometric.data import HeteroData

from torch_geometric_infodcl.datasets import (
    FileDataset,
    InteractionFolder,
    RecommenderDataset,
)
from torch_geometric_infodcl.transforms import SimilarityMetadata
from torch_geometric_infodcl.typing import EDGE_TYPE
from torch_geometric_infodcl.models.baselines import MFBPR, PyGLightGCN
from torch_geometric_infodcl.models.infodcl import InfoDCL

MODELS = ('infodcl', 'mf', 'lightgcn')
METADATA_CHANNELS = ('social', 'knowledge', 'feature')
PRETRAINED_FILES = ('uEmbeds_pt.npy', 'iEmbeds_pt.npy')


def load_data(dataset: str, root: str, raw_dir: Optional[str] = None,
              format: str = 'auto') -> Tuple[HeteroData, Optional[str]]:
    r"""Loads :obj:`dataset` (a name or a folder) and returns the
    :class:`HeteroData` and the folder its raw files were read from
    (:obj:`None` for generated data).
    :obj:`format` (``'auto'`` or one of
    :data:`~torch_geometric_infodcl.datasets.FORMATS`) is passed to the
    datasets that take it (a folder, and the text splits of Office, Gowalla
    and ML-1M)."""
    options = {} if format == 'auto' else {'format': format}
    if osp.isdir(dataset) and raw_dir is None:
        ds = InteractionFolder(root, dataset, **options)
    else:
        ds = RecommenderDataset(root, dataset, raw_dir=raw_dir, **options)
    return ds[0], ds.raw_dir if isinstance(ds, FileDataset) else None


def pretrained_base(raw_dir: Optional[str]) -> Optional[Tuple[str, str]]:
    r"""Returns the paths of pretrained (user, item) base embeddings shipped
    with a dataset (the authors' Office :obj:`*_pt.npy`), if present."""
    if raw_dir is None:
        return None
    paths = tuple(osp.join(raw_dir, name) for name in PRETRAINED_FILES)
    return paths if all(osp.isfile(p) for p in paths) else None


def resolve_base(base: str, raw_dir: Optional[str]) -> Any:
    r"""Maps the :obj:`--metadata-base` choice to a
    :class:`SimilarityMetadata` :obj:`base` argument."""
    if base in ('auto', 'pretrained'):
        paths = pretrained_base(raw_dir)
        if paths is not None:
            return paths
        if base == 'pretrained':
            raise FileNotFoundError(
                f"--metadata-base pretrained needs {PRETRAINED_FILES} in "
                f"'{raw_dir}'")
        return 'svd'
    return base


def build_metadata(data: HeteroData, channels: Sequence[str], base: Any,
                   dim: int, top_k: int = 20,
                   seed: int = 0) -> Dict[str, torch.Tensor]:
    r"""Computes the metadata tensors of the requested channels."""
    unknown = set(channels) - set(METADATA_CHANNELS)
    if unknown:
        raise ValueError(f"Unknown metadata channel(s) {sorted(unknown)} "
                         f"(valid: {METADATA_CHANNELS})")
    if not channels:
        return {}
    transform = SimilarityMetadata(top_k=top_k, base=base, dim=dim,
                                   feature_channel='feature' in channels,
                                   seed=seed)
    data = transform(data.clone())
    return {c: data['item'][f'{c}_metadata'] for c in channels}


def build_model(kind: str, data: HeteroData,
                metadata: Optional[Dict[str, torch.Tensor]] = None,
                **kwargs) -> torch.nn.Module:
    r"""Builds :obj:`kind` (:obj:`"infodcl"`, :obj:`"mf"` or
    :obj:`"lightgcn"`) for the sizes of :obj:`data`."""
    num_users = data['user'].num_nodes
    num_items = data['item'].num_nodes
    if kind == 'infodcl':
        if kwargs.get('train_layers', 0) > 0:
            kwargs['edge_index'] = data[EDGE_TYPE].edge_index
        return InfoDCL(num_users, num_items, metadata=metadata or None,
                       **kwargs)
    if kind == 'mf':
        return MFBPR(num_users, num_items, **kwargs)
    if kind == 'lightgcn':
        return PyGLightGCN(num_users, num_items, **kwargs)
    raise ValueError(f"Unknown model '{kind}' (valid: {MODELS})")
