import os
from typing import Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform

from torch_geometric_infodcl.transforms.base_embeddings import (
    lightgcn_base,
    svd_base,
)
from torch_geometric_infodcl.transforms.similarity import (
    check_base_pair,
    feature_metadata,
    knowledge_metadata,
    social_metadata,
)
from torch_geometric_infodcl.typing import EDGE_TYPE
from torch_geometric_infodcl.utils.checks import check_embedding, check_int

BaseSpec = Union[str, Sequence[Union[Tensor, str, os.PathLike]]]


def _load_npy(path: Union[str, os.PathLike]) -> Tensor:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Base embedding file '{path}' not found")
    return torch.from_numpy(np.load(path, allow_pickle=False))


class SimilarityMetadata(BaseTransform):
    r"""Synthesises the auxiliary item metadata of the `"InfoDCL: Informative
    Noise Enhanced Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ paper from the training
    interactions :obj:`data['user', 'interacts', 'item'].edge_index` and
    base embeddings :math:`(\mathbf{P}, \mathbf{Q})`. Writes

    * :obj:`data['item'].social_metadata` (see :func:`social_metadata`),
    * :obj:`data['item'].knowledge_metadata`
      (see :func:`knowledge_metadata`),
    * :obj:`data['item'].feature_metadata` if :obj:`feature_channel=True`
      (see :func:`feature_metadata`, from :obj:`data['item'].x`),

    each a float32 tensor :obj:`[num_items, d]`. With Jaccard similarity
    :math:`s`,

    .. math::
        \mathbf{m}^{\textrm{soc}}_i = \operatorname{mean}_{u \in
        \mathcal{N}(i)} \frac{1}{2} \left( \mathbf{p}_u +
        \frac{\sum_v s(u, v) \mathbf{p}_v}{\sum_v s(u, v)} \right), \qquad
        \mathbf{m}^{\textrm{kg}}_i = \operatorname{mean}_{j \in
        \operatorname{top-}k\, s(i, \cdot) > 0} \mathbf{q}_j.

    Args:
        top_k (int, optional): Neighbours of the knowledge (and feature)
            metadata. (default: :obj:`20`)
        base (str or tuple, optional): The base embeddings: a pair of
            tensors :obj:`(user_base, item_base)`, a pair of :obj:`.npy`
            paths, :obj:`"svd"` (:func:`svd_base`) or :obj:`"lightgcn"`
            (:func:`lightgcn_base`). (default: :obj:`"svd"`)
        dim (int, optional): Size of generated base embeddings; given
            embeddings keep their own size. (default: :obj:`64`)
        feature_channel (bool, optional): If set to :obj:`True`, also writes
            :obj:`feature_metadata`. (default: :obj:`False`)
        seed (int, optional): Seed of :obj:`"svd"` / :obj:`"lightgcn"`.
            (default: :obj:`0`)
        chunk_size (int, optional): Rows per sparse similarity block; peak
            memory grows with :obj:`chunk_size * num_nodes`.
            (default: :obj:`1024`)
    """
    def __init__(
        self,
        top_k: int = 20,
        base: BaseSpec = 'svd',
        dim: int = 64,
        feature_channel: bool = False,
        seed: int = 0,
        chunk_size: int = 1024,
    ) -> None:
        check_int(top_k, 'top_k')
        check_int(dim, 'dim')
        if isinstance(base, str):
            if base not in ('svd', 'lightgcn'):
                raise ValueError(f"'base' must be 'svd', 'lightgcn' or a pair "
                                 f"of tensors / .npy paths (got {base!r})")
        elif not (isinstance(base, (tuple, list)) and len(base) == 2):
            raise TypeError(f"'base' must be 'svd', 'lightgcn' or a pair of "
                            f"tensors / .npy paths "
                            f"(got {type(base).__name__})")
        check_int(chunk_size, 'chunk_size')
        self.top_k = top_k
        self.base = base
        self.dim = dim
        self.feature_channel = feature_channel
        self.seed = seed
        self.chunk_size = chunk_size

    def base_embeddings(self, edge_index: Tensor, num_users: int,
                        num_items: int) -> Tuple[Tensor, Tensor]:
        r"""Resolves :obj:`base` into :obj:`(user_base, item_base)`."""
        if self.base == 'svd':
            return svd_base(edge_index, num_users, num_items, self.dim,
                            self.seed)
        if self.base == 'lightgcn':
            return lightgcn_base(edge_index, num_users, num_items, self.dim,
                                 seed=self.seed)
        user_base, item_base = (
            _load_npy(b) if isinstance(b, (str, os.PathLike)) else b
            for b in self.base)
        # Name a file in errors by its path.
        for emb, spec, num in ((user_base, self.base[0], num_users),
                               (item_base, self.base[1], num_items)):
            if isinstance(spec, (str, os.PathLike)):
                check_embedding(emb, os.fspath(spec), num)
        return check_base_pair(user_base, item_base, num_users, num_items,
                               edge_index.device)

    def forward(self, data: HeteroData) -> HeteroData:
        if EDGE_TYPE not in data.edge_types:
            raise ValueError(f"'data' has no {EDGE_TYPE} edges "
                             f"(edge types: {data.edge_types})")
        edge_index = data[EDGE_TYPE].edge_index
        num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
        if num_users is None or num_items is None:
            raise ValueError("'data' must define data['user'].num_nodes and "
                             "data['item'].num_nodes")
        if self.feature_channel and data['item'].get('x') is None:
            raise ValueError("'feature_channel=True' needs item features "
                             "in data['item'].x")
        user_base, item_base = self.base_embeddings(edge_index, num_users,
                                                    num_items)
        item_store = data['item']
        item_store.social_metadata = social_metadata(edge_index, num_users,
                                                     num_items, user_base,
                                                     item_base,
                                                     self.chunk_size)
        item_store.knowledge_metadata = knowledge_metadata(
            edge_index, num_users, num_items, item_base, self.top_k,
            self.chunk_size)
        if self.feature_channel:
            item_store.feature_metadata = feature_metadata(
                item_store.x.to(edge_index.device), item_base, self.top_k,
                self.chunk_size)
        return data

    def __repr__(self) -> str:
        base = self.base if isinstance(self.base, str) else 'given'
        return (f'{self.__class__.__name__}(top_k={self.top_k}, base={base}, '
                f'dim={self.dim}, feature_channel={self.feature_channel})')
