from typing import Any, Optional, Tuple, Union

import torch
from torch import Tensor

from torch_geometric.typing import Adj, SparseTensor

from torch_geometric_infodcl.utils.checks import (
    check_embedding,
    check_finite,
    check_ids,
    check_index_tensor,
    check_int,
    check_same_size,
)
from torch_geometric_infodcl.utils.sparse import (
    bipartite_gcn_norm,
    csr_row_index,
    csr_transpose,
    gcn_norm_csr,
    spmm,
)

BipartiteEmbedding = Tuple[Tensor, Tensor]

# MKL (CPU) has no half-precision sparse x dense kernel: such inputs are
# propagated in float32 and cast back.
_CPU_UPCAST = (torch.float16, torch.bfloat16)


def _compute_dtype(x: Tensor) -> torch.dtype:
    if x.device.type == 'cpu' and x.dtype in _CPU_UPCAST:
        return torch.float32
    return x.dtype


def _check_same_device(graph: Tensor, x: Tensor) -> None:
    if graph.device != x.device:
        raise ValueError(f"the graph is on '{graph.device}' but the "
                         f"embeddings are on '{x.device}'")


def _check_square(size: Tuple[int, ...], num_nodes: int) -> None:
    if len(size) != 2 or size[0] != size[1] or size[0] != num_nodes:
        raise ValueError(f"the sparse adjacency must have shape "
                         f"[{num_nodes}, {num_nodes}] to match 'x' "
                         f"(got {list(size)})")


def _normalized_from_sparse(adj: Tensor, num_nodes: int,
                            dtype: torch.dtype) -> Tensor:
    # A sparse adjacency is read as `adj_t` (row = receiving node), exactly
    # as LGConv / `gcn_norm` read it: deg = row sums of the weights.
    _check_square(tuple(adj.shape), num_nodes)
    if adj.dim() != 2 or adj.dense_dim() != 0:
        raise ValueError("the sparse adjacency must be a plain 2-D matrix "
                         "(no batch or dense dimensions)")
    if adj.layout == torch.sparse_coo:
        index = adj._indices()
        return gcn_norm_csr(index[0], index[1], adj._values(), num_nodes,
                            dtype)
    if adj.layout == torch.sparse_csc:
        adj = adj.to_sparse_csr()
    if adj.layout != torch.sparse_csr:
        raise TypeError(f"unsupported sparse layout '{adj.layout}' (use COO, "
                        f"CSR or CSC)")
    return gcn_norm_csr(csr_row_index(adj), adj.col_indices(), adj.values(),
                        num_nodes, dtype)


def _normalized_from_sparse_tensor(adj: SparseTensor, num_nodes: int,
                                   dtype: torch.dtype) -> Tensor:
    _check_square(tuple(adj.sparse_sizes()), num_nodes)
    row, col, value = adj.coo()
    if value is None:
        value = torch.ones(col.numel(), device=col.device)
    return gcn_norm_csr(row, col, value, num_nodes, dtype)


def _graph_version(graph: Any) -> Tuple[int, ...]:
    # In-place edits bump a tensor's version counter; sparse tensors keep
    # their index and value arrays in separate tensors.
    if isinstance(graph, SparseTensor):
        value = graph.storage.value()
        return (graph.storage.col()._version,
                -1 if value is None else value._version)
    if graph.layout == torch.sparse_coo:
        return (graph._version, graph._indices()._version,
                graph._values()._version)
    if graph.layout in (torch.sparse_csr, torch.sparse_csc):
        return (graph._version, graph.values()._version)
    return (graph._version, )


def _graph_shape(graph: Any) -> Tuple[int, ...]:
    if isinstance(graph, SparseTensor):
        return tuple(graph.sparse_sizes()) + (graph.nnz(), )
    if graph.layout != torch.strided:
        return tuple(graph.shape) + (graph._nnz(), )
    return tuple(graph.shape)


def _graph_device(graph: Any) -> torch.device:
    return graph.device() if isinstance(graph, SparseTensor) else \
        graph.device


class _CacheEntry:
    # Holds the graph object itself: while it is referenced, no other tensor
    # can take its `id`, so `is` + version + sizes identify the same graph.
    def __init__(self, graph: Any, key: Tuple, mats: Tuple[Tensor, Tensor]):
        self.graph = graph
        self.key = key
        self.mats = mats

    def matches(self, graph: Any, key: Tuple) -> bool:
        return self.graph is graph and self.key == key


class LightGCNInference(torch.nn.Module):
    r"""Parameter-free LightGCN propagation, used by InfoDCL at inference,
    from the `"InfoDCL: Informative Noise Enhanced Diffusion Based
    Contrastive Learning" <https://arxiv.org/abs/2512.16576>`_ paper
    (propagation rule of `"LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_).

    .. math::
        \hat{\mathbf{E}} = \sum_{l=0}^{L} \alpha_l \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)}, \qquad
        \hat{\mathbf{A}} = \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}

    without self-loops, *i.e.* exactly
    :meth:`torch_geometric.nn.models.LightGCN.get_embedding` with the given
    embeddings (isolated nodes keep :math:`\alpha_0 \mathbf{e}^{(0)}`).

    For a bipartite input :obj:`(user_emb, item_emb)` with (user, item)
    edges, the undirected graph is implied and only its non-zero block is
    used:

    .. math::
        \mathbf{u}^{(l+1)} = \tilde{\mathbf{R}} \, \mathbf{i}^{(l)}, \quad
        \mathbf{i}^{(l+1)} = \tilde{\mathbf{R}}^{\top} \mathbf{u}^{(l)},
        \quad \tilde{\mathbf{R}} = \mathbf{D}_u^{-1/2} \mathbf{R}
        \mathbf{D}_i^{-1/2}

    Duplicated edges count once per occurrence in both the degrees and the
    edge weight, as in PyG. With :obj:`cached=True` the normalised CSR matrix
    (and its transpose) is kept for the last graph seen and re-used only for
    that same graph object, unmodified (same tensor, version counter, shape,
    number of non-zeros, device, dtype and node counts); any other graph is
    normalised afresh and replaces the cache. Gradients flow into the
    embeddings (not into sparse edge weights).

    Args:
        num_layers (int): The number of propagation layers :math:`L`.
        alpha (float or torch.Tensor, optional): The layer weights
            :math:`\alpha_l`: a scalar used for every layer, or a tensor of
            :obj:`num_layers + 1` weights. If set to :obj:`None`,
            :math:`\alpha_l = 1 / (L + 1)`. (default: :obj:`None`)
        cached (bool, optional): If set to :obj:`True`, caches the normalised
            adjacency of the last graph. (default: :obj:`True`)

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F)` with edge indices
          :math:`(2, |\mathcal{E}|)` or a sparse adjacency
          :math:`(|\mathcal{V}|, |\mathcal{V}|)` (read as :obj:`adj_t`, as in
          :class:`~torch_geometric.nn.conv.LGConv`),
          or bipartite features :math:`((|\mathcal{U}|, F), (|\mathcal{I}|,
          F))` with (user, item) edge indices :math:`(2, |\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, F)`, or
          :math:`((|\mathcal{U}|, F), (|\mathcal{I}|, F))`
    """
    def __init__(
        self,
        num_layers: int,
        alpha: Optional[Union[float, Tensor]] = None,
        cached: bool = True,
    ):
        super().__init__()
        self.num_layers = check_int(num_layers, 'num_layers', min_value=0)
        self.cached = cached
        self.register_buffer('alpha', self._layer_weights(alpha, num_layers))
        self._cache: Optional[_CacheEntry] = None

    @staticmethod
    def _layer_weights(alpha: Optional[Union[float, Tensor]],
                       num_layers: int) -> Tensor:
        if alpha is None:
            alpha = 1. / (num_layers + 1)
        if isinstance(alpha, Tensor):
            alpha = alpha.detach().to(torch.get_default_dtype()).flatten()
            if alpha.numel() != num_layers + 1:
                raise ValueError(f"'alpha' must hold num_layers + 1 = "
                                 f"{num_layers + 1} weights (got "
                                 f"{alpha.numel()})")
        else:
            alpha = torch.full((num_layers + 1, ), float(alpha))
        return check_finite(alpha, 'alpha').clone()

    def reset_parameters(self):
        r"""Resets the module (it has no parameters; clears the cache)."""
        self.reset_cache()

    def reset_cache(self):
        r"""Drops the cached normalised adjacency."""
        self._cache = None

    def forward(
        self,
        x: Union[Tensor, BipartiteEmbedding],
        edge_index: Adj,
    ) -> Union[Tensor, BipartiteEmbedding]:
        r"""Propagates the embeddings.

        Args:
            x (torch.Tensor or (torch.Tensor, torch.Tensor)): Node embeddings
                :obj:`[N, F]`, or the pair :obj:`(user_emb, item_emb)`.
            edge_index (torch.Tensor or SparseTensor): Edge indices
                :obj:`[2, E]` (for a pair: row 0 user ids, row 1 item ids),
                or, for a single tensor :obj:`x`, a :obj:`torch.sparse`
                (COO, CSR or CSC) or :class:`torch_sparse.SparseTensor`
                adjacency :obj:`[N, N]`.
        """
        if isinstance(x, (tuple, list)):
            return self._forward_bipartite(x, edge_index)
        check_embedding(x, 'x')
        dtype = _compute_dtype(x)
        mat, mat_t = self._normalized(edge_index, x, dtype,
                                      self._build_homogeneous)
        out = self._propagate((x.to(dtype), ), lambda h: (
            spmm(mat, h[0], mat_t), ))
        return out[0].to(x.dtype)

    def _forward_bipartite(self, x: Any,
                           edge_index: Adj) -> BipartiteEmbedding:
        if len(x) != 2:
            raise ValueError(f"a bipartite 'x' must be the pair (user_emb, "
                             f"item_emb) (got {len(x)} tensors)")
        user_emb, item_emb = x
        check_embedding(user_emb, 'user_emb')
        check_embedding(item_emb, 'item_emb')
        check_same_size(user_emb, item_emb, 'user_emb', 'item_emb')
        if user_emb.dtype != item_emb.dtype or \
                user_emb.device != item_emb.device:
            raise ValueError(f"'user_emb' ({user_emb.dtype}, "
                             f"{user_emb.device}) and 'item_emb' "
                             f"({item_emb.dtype}, {item_emb.device}) must "
                             f"share dtype and device")
        dtype = _compute_dtype(user_emb)
        mat, mat_t = self._normalized(edge_index, x, dtype,
                                      self._build_bipartite)
        user_out, item_out = self._propagate(
            (user_emb.to(dtype), item_emb.to(dtype)),
            lambda h: (spmm(mat, h[1], mat_t), spmm(mat_t, h[0], mat)))
        return user_out.to(user_emb.dtype), item_out.to(item_emb.dtype)

    def _propagate(self, h: Tuple[Tensor, ...], layer) -> Tuple[Tensor, ...]:
        alpha = self.alpha.to(h[0].device, h[0].dtype)
        out = tuple(part * alpha[0] for part in h)
        for layer_index in range(1, self.num_layers + 1):
            h = layer(h)
            # In place: no temporary [N, F] tensor per layer.
            out = tuple(acc.addcmul_(part, alpha[layer_index])
                        for acc, part in zip(out, h))
        return out

    def _normalized(self, graph: Any, x: Any, dtype: torch.dtype,
                    build) -> Tuple[Tensor, Tensor]:
        first = x[0] if isinstance(x, (tuple, list)) else x
        counts = tuple(part.size(0) for part in x) \
            if isinstance(x, (tuple, list)) else (x.size(0), )
        if not self.cached:
            return build(graph, counts, first, dtype)
        key = self._cache_key(graph, counts, first, dtype)
        if self._cache is None or not self._cache.matches(graph, key):
            self._cache = None  # Free the old matrices before building.
            mats = build(graph, counts, first, dtype)
            self._cache = _CacheEntry(graph, key, mats)
        return self._cache.mats

    @staticmethod
    def _cache_key(graph: Any, counts: Tuple[int, ...], x: Tensor,
                   dtype: torch.dtype) -> Tuple:
        if not isinstance(graph, (Tensor, SparseTensor)):
            return (type(graph), )  # Rejected by the builder.
        return (_graph_version(graph), _graph_shape(graph),
                str(_graph_device(graph)), str(x.device), dtype, counts)

    @staticmethod
    def _build_bipartite(graph: Any, counts: Tuple[int, ...], x: Tensor,
                         dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
        check_index_tensor(graph)
        _check_same_device(graph, x)
        # Name the embedding tables in errors; then the ids are valid.
        for row, (kind, table, count) in enumerate(
                zip(('user', 'item'), ('user_emb', 'item_emb'), counts)):
            check_ids(graph[row], count, f'edge_index[{row}]',
                      f"'{table}' has only {count} rows", kind)
        return bipartite_gcn_norm(graph, *counts, dtype=dtype)

    @staticmethod
    def _build_homogeneous(graph: Any, counts: Tuple[int, ...], x: Tensor,
                           dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
        num_nodes = counts[0]
        if isinstance(graph, SparseTensor):
            _check_same_device(graph.storage.col(), x)
            mat = _normalized_from_sparse_tensor(graph, num_nodes, dtype)
        elif isinstance(graph, Tensor) and graph.layout != torch.strided:
            _check_same_device(graph, x)
            mat = _normalized_from_sparse(graph, num_nodes, dtype)
        else:
            check_index_tensor(graph)
            _check_same_device(graph, x)
            check_ids(graph, num_nodes, 'edge_index',
                      f"'x' has only {num_nodes} rows")
            # LGConv semantics (flow 'source_to_target'): node j receives
            # from every edge (i, j); deg(j) counts the edges that end in j.
            mat = gcn_norm_csr(graph[1], graph[0], None, num_nodes, dtype)
        return mat, csr_transpose(mat)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_layers={self.num_layers})'
