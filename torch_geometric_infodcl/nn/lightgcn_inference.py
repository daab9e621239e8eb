import warnings
from typing import Any, Optional, Tuple, Union

import torch
from torch import Tensor

from torch_geometric.typing import Adj, SparseTensor

from torch_geometric_infodcl.utils import check_embedding

BipartiteEmbedding = Tuple[Tensor, Tensor]

# MKL (CPU) has no half-precision sparse x dense kernel: such inputs are
# propagated in float32 and cast back.
_CPU_UPCAST = (torch.float16, torch.bfloat16)


def _sparse_csr(crow: Tensor, col: Tensor, value: Tensor,
                size: Tuple[int, int]) -> Tensor:
    # Our own construction guarantees the CSR invariants; silence torch's
    # one-time 'beta' notice instead of leaking it to every user.
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*Sparse CSR tensor '
                                'support is in beta.*')
        return torch.sparse_csr_tensor(crow, col, value, size,
                                       check_invariants=False)


def _compute_dtype(x: Tensor) -> torch.dtype:
    if x.device.type == 'cpu' and x.dtype in _CPU_UPCAST:
        return torch.float32
    return x.dtype


def _index_dtype(*sizes: int) -> torch.dtype:
    # 32-bit CSR indices take the MKL / cuSPARSE fast path (about 6x faster
    # than 64-bit indices on CPU) and halve the index traffic.
    return torch.int32 if max(sizes) < 2**31 - 1 else torch.int64


def _check_edge_index(edge_index: Any) -> None:
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"'edge_index' must be a torch.Tensor "
                        f"(got {type(edge_index).__name__})")
    if edge_index.layout != torch.strided:
        raise TypeError(f"'edge_index' must be a dense [2, num_edges] index "
                        f"tensor here (got layout {edge_index.layout})")
    if edge_index.is_floating_point() or edge_index.is_complex() or \
            edge_index.dtype == torch.bool:
        raise TypeError(f"'edge_index' must be an integer tensor "
                        f"(got dtype {edge_index.dtype})")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"'edge_index' must have shape [2, num_edges] "
                         f"(got shape {tuple(edge_index.shape)})")


def _check_ids(ids: Tensor, count: int, what: str, limit: str) -> None:
    # `limit` says where the count comes from, e.g. "'x' has only 5 rows".
    if ids.numel() == 0:
        return
    low, high = torch.aminmax(ids)
    if int(low) < 0:
        raise ValueError(f"{what} contains the negative id {int(low)}")
    if int(high) >= count:
        raise ValueError(f"{what} contains the id {int(high)}, but "
                         f"{limit} (valid ids are 0..{count - 1})")


def _check_same_device(graph: Tensor, x: Tensor) -> None:
    if graph.device != x.device:
        raise ValueError(f"the graph is on '{graph.device}' but the "
                         f"embeddings are on '{x.device}'")


def _inv_sqrt_degree(degree: Tensor) -> Tensor:
    # Zero-degree (isolated) nodes get 0 instead of inf, as in `gcn_norm`.
    out = degree.pow(-0.5)
    return out.masked_fill_(torch.isinf(out), 0.)


def _csr_from_coo(row: Tensor, col: Tensor, value: Tensor,
                  size: Tuple[int, int]) -> Tensor:
    r"""Builds a CSR matrix from (possibly duplicated) COO entries; duplicate
    entries are summed. One integer sort; much faster than
    :meth:`torch.Tensor.coalesce` on CPU."""
    num_rows, num_cols = size
    key, perm = (row * num_cols + col).sort()
    value = value[perm]
    if key.numel() > 1 and not bool((key[1:] != key[:-1]).all()):
        key, inverse = torch.unique_consecutive(key, return_inverse=True)
        value = value.new_zeros(key.numel()).index_add_(0, inverse, value)
    row = torch.div(key, num_cols, rounding_mode='floor')
    col = key - row * num_cols
    index_dtype = _index_dtype(num_rows, num_cols, key.numel())
    crow = row.new_zeros(num_rows + 1)
    torch.cumsum(torch.bincount(row, minlength=num_rows), dim=0,
                 out=crow[1:])
    return _sparse_csr(crow.to(index_dtype), col.to(index_dtype), value,
                       size)


def _csr_transpose(mat: Tensor) -> Tensor:
    # The CSC arrays of `mat` are exactly the CSR arrays of its transpose.
    csc = mat.to_sparse_csc()
    return _sparse_csr(csc.ccol_indices(), csc.row_indices(), csc.values(),
                       (mat.size(1), mat.size(0)))


def bipartite_gcn_norm(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    dtype: torch.dtype = torch.float32,
) -> Tuple[Tensor, Tensor]:
    r"""Returns the symmetrically normalised user-item block
    :math:`\tilde{\mathbf{R}} = \mathbf{D}_u^{-1/2} \mathbf{R}
    \mathbf{D}_i^{-1/2}` of the undirected bipartite graph as a CSR matrix
    :obj:`[num_users, num_items]`, together with its transpose (CSR,
    :obj:`[num_items, num_users]`).

    This is the off-diagonal block of :math:`\mathbf{D}^{-1/2} \mathbf{A}
    \mathbf{D}^{-1/2}` computed by
    :meth:`~torch_geometric.nn.conv.gcn_conv.gcn_norm` (without self-loops)
    on the homogeneous graph that holds every (user, item) edge in both
    directions. A duplicated edge counts once per occurrence, in the degrees
    and in the entry of :math:`\mathbf{R}` (as in PyG).

    Args:
        edge_index (torch.Tensor): The (user, item) edges :obj:`[2, E]`.
        num_users (int): The number of users.
        num_items (int): The number of items.
        dtype (torch.dtype, optional): The dtype of the values.
            (default: :obj:`torch.float32`)
    """
    _check_edge_index(edge_index)
    _check_ids(edge_index[0], num_users, "edge_index[0] (user ids)",
               f"num_users is {num_users}")
    _check_ids(edge_index[1], num_items, "edge_index[1] (item ids)",
               f"num_items is {num_items}")
    return _bipartite_gcn_norm(edge_index, num_users, num_items, dtype)


def _bipartite_gcn_norm(edge_index: Tensor, num_users: int, num_items: int,
                        dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
    user, item = edge_index[0].long(), edge_index[1].long()
    user_scale = _inv_sqrt_degree(
        torch.bincount(user, minlength=num_users).to(dtype))
    item_scale = _inv_sqrt_degree(
        torch.bincount(item, minlength=num_items).to(dtype))
    value = user_scale[user] * item_scale[item]
    mat = _csr_from_coo(user, item, value, (num_users, num_items))
    return mat, _csr_transpose(mat)


def _normalized_from_edge_index(edge_index: Tensor, num_nodes: int,
                                dtype: torch.dtype) -> Tensor:
    # LGConv semantics (flow 'source_to_target'): node j receives from
    # every edge (i, j), and deg(j) counts the edges that end in j.
    source, target = edge_index[0].long(), edge_index[1].long()
    scale = _inv_sqrt_degree(
        torch.bincount(target, minlength=num_nodes).to(dtype))
    value = scale[source] * scale[target]
    return _csr_from_coo(target, source, value, (num_nodes, num_nodes))


def _normalized_from_adj_t(crow: Tensor, col: Tensor, value: Tensor,
                           num_nodes: int, dtype: torch.dtype) -> Tensor:
    # A sparse adjacency is read as `adj_t` (row = receiving node), exactly
    # as LGConv / `gcn_norm` read it: deg = row sums of the weights.
    value = value.to(dtype)
    if not bool(torch.isfinite(value).all()):
        raise ValueError("the sparse adjacency contains NaN or Inf weights")
    row = torch.repeat_interleave(
        torch.arange(num_nodes, device=crow.device), crow.diff())
    degree = value.new_zeros(num_nodes).index_add_(0, row, value)
    if bool((degree < 0).any()):
        node = int((degree < 0).nonzero()[0, 0])
        raise ValueError(f"the sparse adjacency has a negative weighted "
                         f"degree at node {node}")
    scale = _inv_sqrt_degree(degree)
    value = scale[row] * value * scale[col.long()]
    index_dtype = _index_dtype(num_nodes, value.numel())
    return _sparse_csr(crow.to(index_dtype), col.to(index_dtype), value,
                       (num_nodes, num_nodes))


def _check_square(size: Tuple[int, ...], num_nodes: int) -> None:
    if len(size) != 2 or size[0] != size[1] or size[0] != num_nodes:
        raise ValueError(f"the sparse adjacency must have shape "
                         f"[{num_nodes}, {num_nodes}] to match 'x' "
                         f"(got {list(size)})")


def _normalized_from_sparse(adj: Tensor, num_nodes: int,
                            dtype: torch.dtype) -> Tensor:
    _check_square(tuple(adj.shape), num_nodes)
    if adj.dim() != 2 or adj.dense_dim() != 0:
        raise ValueError("the sparse adjacency must be a plain 2-D matrix "
                         "(no batch or dense dimensions)")
    if adj.layout == torch.sparse_coo:
        index = adj._indices()
        mat = _csr_from_coo(index[0], index[1], adj._values().to(dtype),
                            (num_nodes, num_nodes))
        return _normalized_from_adj_t(mat.crow_indices(), mat.col_indices(),
                                      mat.values(), num_nodes, dtype)
    if adj.layout == torch.sparse_csc:
        adj = adj.to_sparse_csr()
    if adj.layout != torch.sparse_csr:
        raise TypeError(f"unsupported sparse layout '{adj.layout}' (use COO, "
                        f"CSR or CSC)")
    return _normalized_from_adj_t(adj.crow_indices(), adj.col_indices(),
                                  adj.values(), num_nodes, dtype)


def _normalized_from_sparse_tensor(adj: SparseTensor, num_nodes: int,
                                   dtype: torch.dtype) -> Tensor:
    _check_square(tuple(adj.sparse_sizes()), num_nodes)
    crow, col, value = adj.csr()
    if value is None:
        value = torch.ones(col.numel(), device=col.device)
    return _normalized_from_adj_t(crow, col, value, num_nodes, dtype)


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


class _SparseMatmul(torch.autograd.Function):
    r"""Computes :obj:`mat @ x`; the backward pass re-uses the cached
    transpose (no per-call CSR transposition), and is itself differentiable.
    """
    @staticmethod
    def forward(ctx, x: Tensor, mat: Tensor, mat_t: Tensor) -> Tensor:
        ctx.mats = (mat, mat_t)
        return mat @ x

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tuple[Tensor, None, None]:
        mat, mat_t = ctx.mats
        return _SparseMatmul.apply(grad_out, mat_t, mat), None, None


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
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) \
                or num_layers < 0:
            raise ValueError(f"'num_layers' must be a non-negative integer "
                             f"(got {num_layers!r})")
        self.num_layers = num_layers
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
        if not bool(torch.isfinite(alpha).all()):
            raise ValueError("'alpha' contains NaN or Inf")
        return alpha.clone()

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
            _SparseMatmul.apply(h[0], mat, mat_t), ))
        return out[0].to(x.dtype)

    def _forward_bipartite(self, x: Any,
                           edge_index: Adj) -> BipartiteEmbedding:
        if len(x) != 2:
            raise ValueError(f"a bipartite 'x' must be the pair (user_emb, "
                             f"item_emb) (got {len(x)} tensors)")
        user_emb, item_emb = x
        check_embedding(user_emb, 'user_emb')
        check_embedding(item_emb, 'item_emb')
        if user_emb.size(1) != item_emb.size(1):
            raise ValueError(f"'user_emb' and 'item_emb' must have the same "
                             f"embedding size (got {user_emb.size(1)} and "
                             f"{item_emb.size(1)})")
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
            lambda h: (_SparseMatmul.apply(h[1], mat, mat_t),
                       _SparseMatmul.apply(h[0], mat_t, mat)))
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
        _check_edge_index(graph)
        _check_same_device(graph, x)
        num_users, num_items = counts
        _check_ids(graph[0], num_users, "edge_index[0] (user ids)",
                   f"'user_emb' has only {num_users} rows")
        _check_ids(graph[1], num_items, "edge_index[1] (item ids)",
                   f"'item_emb' has only {num_items} rows")
        return _bipartite_gcn_norm(graph, num_users, num_items, dtype)

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
            _check_edge_index(graph)
            _check_same_device(graph, x)
            _check_ids(graph, num_nodes, "edge_index",
                       f"'x' has only {num_nodes} rows")
            mat = _normalized_from_edge_index(graph, num_nodes, dtype)
        return mat, _csr_transpose(mat)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_layers={self.num_layers})'
