r"""The sparse toolbox: CSR builders, the one symmetric normalisation
:math:`\mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}` of the user-item graph
(in its bipartite block form and its homogeneous form), and a sparse-dense
product whose backward pass re-uses a cached transpose.

Every normalised matrix of the package comes from :func:`gcn_norm_weight`,
with :meth:`torch_geometric.nn.conv.gcn_conv.gcn_norm`'s semantics (no
self-loops): zero-degree nodes get weight 0, and a duplicated edge counts
once per occurrence, in the degrees and in the (summed) entry.
"""
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor

from torch_geometric_infodcl.utils.checks import check_edge_index, check_ids

BipartiteAdjacency = Tuple[Tensor, Tensor]


def compact_index_dtype(*sizes: int) -> torch.dtype:
    r"""Returns :obj:`torch.int32` if every size fits, else
    :obj:`torch.int64`. 32-bit CSR indices take the MKL / cuSPARSE fast path
    (about 6x faster than 64-bit indices on CPU) and halve the index
    traffic."""
    return torch.int32 if max(sizes) < 2**31 - 1 else torch.int64


def _csr_tensor(crow: Tensor, col: Tensor, value: Tensor,
                size: Tuple[int, int]) -> Tensor:
    # Our own construction guarantees the CSR invariants; silence torch's
    # one-time 'beta' notice instead of leaking it to every user.
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', '.*Sparse CSR tensor support.*')
        return torch.sparse_csr_tensor(crow, col, value, size,
                                       check_invariants=False)


def to_csr(
    row: Tensor,
    col: Tensor,
    value: Tensor,
    size: Tuple[int, int],
    is_sorted: bool = False,
    index_dtype: torch.dtype = torch.int64,
) -> Tensor:
    r"""Builds a sparse CSR matrix from COO entries.

    Duplicated :obj:`(row, col)` entries are summed, with one integer sort
    (much faster than :meth:`torch.Tensor.coalesce` on CPU).

    Args:
        row (torch.Tensor): Row indices :obj:`[nnz]`.
        col (torch.Tensor): Column indices :obj:`[nnz]`.
        value (torch.Tensor): Values :obj:`[nnz]`.
        size ((int, int)): The matrix size.
        is_sorted (bool, optional): If set to :obj:`True`, the entries are
            promised to be sorted by row (columns in any order) and free of
            duplicates, and are used as given. (default: :obj:`False`)
        index_dtype (torch.dtype, optional): The dtype of the CSR index
            arrays (see :func:`compact_index_dtype`).
            (default: :obj:`torch.int64`)
    """
    num_rows, num_cols = size
    if not is_sorted:
        key, perm = (row.long() * num_cols + col.long()).sort()
        value = value[perm]
        if key.numel() > 1 and not bool((key[1:] != key[:-1]).all()):
            key, inverse = torch.unique_consecutive(key, return_inverse=True)
            value = value.new_zeros(key.numel()).index_add_(0, inverse, value)
        row = torch.div(key, num_cols, rounding_mode='floor')
        col = key - row * num_cols
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=row.device)
    torch.cumsum(torch.bincount(row, minlength=num_rows), dim=0,
                 out=crow[1:])
    return _csr_tensor(crow.to(index_dtype), col.to(index_dtype), value,
                       size)


def csr_row_index(mat: Tensor) -> Tensor:
    r"""Returns the row of every stored entry of a CSR matrix (int64)."""
    counts = mat.crow_indices().diff().long()
    rows = torch.arange(mat.size(0), device=counts.device)
    return rows.repeat_interleave(counts)


def csr_rows(mat: Tensor, start: int, end: int) -> Tensor:
    r"""Returns rows :obj:`start:end` of a CSR matrix as a CSR matrix, without
    copying the other rows."""
    crow = mat.crow_indices()[start:end + 1]
    lo, hi = int(crow[0]), int(crow[-1])
    return _csr_tensor(crow - lo, mat.col_indices()[lo:hi],
                       mat.values()[lo:hi], (end - start, mat.size(1)))


def csr_transpose(mat: Tensor) -> Tensor:
    r"""Returns the transpose of a CSR matrix as a CSR matrix."""
    # The CSC arrays of `mat` are exactly the CSR arrays of its transpose.
    csc = mat.to_sparse_csc()
    return _csr_tensor(csc.ccol_indices(), csc.row_indices(), csc.values(),
                       (mat.size(1), mat.size(0)))


def gcn_norm_weight(row: Tensor, col: Tensor, weight: Optional[Tensor],
                    row_degree: Tensor, col_degree: Tensor) -> Tensor:
    r"""The symmetric normalisation of the entries :math:`a_{rc}` of a sparse
    matrix, the one definition used by the whole package:

    .. math::
        \hat{a}_{rc} = d_r^{-1/2} \, a_{rc} \, d_c^{-1/2},

    with :math:`d^{-1/2} = 0` for a zero degree (isolated node), as in
    :meth:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`.

    Args:
        row (torch.Tensor): Row indices :obj:`[nnz]`.
        col (torch.Tensor): Column indices :obj:`[nnz]`.
        weight (torch.Tensor, optional): Entries :math:`a_{rc}`; ones if
            :obj:`None`.
        row_degree (torch.Tensor): Degrees :math:`d_r` of the row nodes.
        col_degree (torch.Tensor): Degrees :math:`d_c` of the column nodes
            (the same tensor for a square adjacency).
    """
    row_scale, col_scale = (_inv_sqrt(degree)
                            for degree in (row_degree, col_degree))
    value = row_scale[row]
    if weight is not None:
        value = value * weight
    return value * col_scale[col]


def _inv_sqrt(degree: Tensor) -> Tensor:
    out = degree.pow(-0.5)
    return out.masked_fill_(torch.isinf(out), 0.)


def _bipartite_entries(edge_index: Tensor, num_users: int, num_items: int,
                       dtype: torch.dtype) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The (user, item, value) entries of :math:`\tilde{\mathbf{R}}`."""
    check_edge_index(edge_index, num_users, num_items)
    user, item = edge_index[0].long(), edge_index[1].long()
    user_degree = torch.bincount(user, minlength=num_users).to(dtype)
    item_degree = torch.bincount(item, minlength=num_items).to(dtype)
    value = gcn_norm_weight(user, item, None, user_degree, item_degree)
    return user, item, value


def bipartite_gcn_norm(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    dtype: torch.dtype = torch.float32,
    index_dtype: Optional[torch.dtype] = None,
) -> BipartiteAdjacency:
    r"""Returns the symmetrically normalised user-item block
    :math:`\tilde{\mathbf{R}} = \mathbf{D}_u^{-1/2} \mathbf{R}
    \mathbf{D}_i^{-1/2}` of the undirected bipartite graph as a CSR matrix
    :obj:`[num_users, num_items]`, together with its transpose (CSR,
    :obj:`[num_items, num_users]`).

    This is the off-diagonal block of :math:`\mathbf{D}^{-1/2} \mathbf{A}
    \mathbf{D}^{-1/2}` computed by
    :meth:`~torch_geometric.nn.conv.gcn_conv.gcn_norm` (without self-loops)
    on the homogeneous graph that holds every (user, item) edge in both
    directions (see :func:`bipartite_adjacency`). A duplicated edge counts
    once per occurrence, in the degrees and in the entry of
    :math:`\mathbf{R}` (as in PyG); pass unique pairs for set semantics.

    Args:
        edge_index (torch.Tensor): The (user, item) edges :obj:`[2, E]`.
        num_users (int): The number of users.
        num_items (int): The number of items.
        dtype (torch.dtype, optional): The dtype of the values.
            (default: :obj:`torch.float32`)
        index_dtype (torch.dtype, optional): The dtype of the CSR index
            arrays; the smallest that fits if :obj:`None`.
            (default: :obj:`None`)
    """
    user, item, value = _bipartite_entries(edge_index, num_users, num_items,
                                           dtype)
    if index_dtype is None:
        index_dtype = compact_index_dtype(num_users, num_items, user.numel())
    mat = to_csr(user, item, value, (num_users, num_items),
                 index_dtype=index_dtype)
    return mat, csr_transpose(mat)


def bipartite_adjacency(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    dtype: torch.dtype = torch.float32,
    index_dtype: Optional[torch.dtype] = None,
) -> Tensor:
    r"""Returns :math:`\mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}` of the
    homogeneous graph of the (user, item) :obj:`edge_index` as a symmetric
    CSR matrix :obj:`[num_users + num_items, num_users + num_items]`: users
    are nodes :obj:`0..num_users - 1`, items follow, and every edge appears
    in both directions

    .. math::
        \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2} =
        \begin{bmatrix} \mathbf{0} & \tilde{\mathbf{R}} \\
        \tilde{\mathbf{R}}^{\top} & \mathbf{0} \end{bmatrix},

    with the entries of :func:`bipartite_gcn_norm`; equal to
    :meth:`~torch_geometric.nn.conv.gcn_conv.gcn_norm` without self-loops on
    that graph, as :class:`~torch_geometric.nn.conv.LGConv` normalises it.

    Args:
        edge_index (torch.Tensor): The (user, item) edges :obj:`[2, E]`.
        num_users (int): The number of users.
        num_items (int): The number of items.
        dtype (torch.dtype, optional): The dtype of the values.
            (default: :obj:`torch.float32`)
        index_dtype (torch.dtype, optional): The dtype of the CSR index
            arrays; the smallest that fits if :obj:`None`.
            (default: :obj:`None`)
    """
    user, item, value = _bipartite_entries(edge_index, num_users, num_items,
                                           dtype)
    num_nodes = num_users + num_items
    item = item + num_users
    if index_dtype is None:
        index_dtype = compact_index_dtype(num_nodes, 2 * user.numel())
    return to_csr(torch.cat([user, item]), torch.cat([item, user]),
                  torch.cat([value, value]), (num_nodes, num_nodes),
                  index_dtype=index_dtype)


def gcn_norm_csr(
    row: Tensor,
    col: Tensor,
    weight: Optional[Tensor],
    num_nodes: int,
    dtype: torch.dtype = torch.float32,
    index_dtype: Optional[torch.dtype] = None,
) -> Tensor:
    r"""Returns :math:`\mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}` of a
    (possibly directed, weighted) homogeneous graph given as the entries of
    :obj:`adj_t` (row = receiving node), the way
    :class:`~torch_geometric.nn.conv.LGConv` reads it: :math:`d_r` is the
    weighted number of edges that end in :math:`r`. For an
    :obj:`edge_index` with the default flow :obj:`"source_to_target"`, pass
    :obj:`row=edge_index[1]` and :obj:`col=edge_index[0]`.

    Args:
        row (torch.Tensor): Receiving nodes :obj:`[nnz]`.
        col (torch.Tensor): Sending nodes :obj:`[nnz]`.
        weight (torch.Tensor, optional): Edge weights; ones if :obj:`None`.
        num_nodes (int): The number of nodes.
        dtype (torch.dtype, optional): The dtype of the values.
            (default: :obj:`torch.float32`)
        index_dtype (torch.dtype, optional): The dtype of the CSR index
            arrays; the smallest that fits if :obj:`None`.
            (default: :obj:`None`)
    """
    check_ids(row, num_nodes, 'row', f'num_nodes is {num_nodes}')
    check_ids(col, num_nodes, 'col', f'num_nodes is {num_nodes}')
    row, col = row.long(), col.long()
    if weight is None:
        degree = torch.bincount(row, minlength=num_nodes).to(dtype)
    else:
        weight = weight.to(dtype)
        if not bool(torch.isfinite(weight).all()):
            raise ValueError("the sparse adjacency contains NaN or Inf "
                             "weights")
        degree = weight.new_zeros(num_nodes).index_add_(0, row, weight)
        if bool((degree < 0).any()):
            node = int((degree < 0).nonzero()[0, 0])
            raise ValueError(f"the sparse adjacency has a negative weighted "
                             f"degree at node {node}")
    value = gcn_norm_weight(row, col, weight, degree, degree)
    if index_dtype is None:
        index_dtype = compact_index_dtype(num_nodes, row.numel())
    return to_csr(row, col, value, (num_nodes, num_nodes),
                  index_dtype=index_dtype)


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


def spmm(mat: Tensor, x: Tensor, mat_t: Optional[Tensor] = None) -> Tensor:
    r"""Returns the product :obj:`mat @ x` of a sparse CSR matrix and a dense
    matrix, differentiable with respect to :obj:`x` (to any order). With
    :obj:`mat_t`, the CSR transpose of :obj:`mat` (*e.g.* from
    :func:`bipartite_gcn_norm`), the backward pass re-uses it instead of
    transposing :obj:`mat` at every call. Gradients do not flow into the
    values of :obj:`mat`.

    Args:
        mat (torch.Tensor): A sparse CSR matrix :obj:`[M, N]`.
        x (torch.Tensor): A dense matrix :obj:`[N, F]` of the dtype of
            :obj:`mat`.
        mat_t (torch.Tensor, optional): The CSR transpose of :obj:`mat`.
            (default: :obj:`None`)
    """
    if mat_t is None:
        if not x.requires_grad:
            return mat @ x
        mat_t = csr_transpose(mat)
    return _SparseMatmul.apply(x, mat, mat_t)


def bipartite_propagate(
    adj: BipartiteAdjacency,
    user_x: Tensor,
    item_x: Tensor,
) -> Tuple[Tensor, Tensor]:
    r"""One propagation layer over the normalised bipartite graph,

    .. math::
        \mathbf{u}' = \tilde{\mathbf{R}} \, \mathbf{i}, \qquad
        \mathbf{i}' = \tilde{\mathbf{R}}^{\top} \mathbf{u},

    i.e. :math:`\mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}` applied to
    the stacked :math:`[\mathbf{u}; \mathbf{i}]` without building the
    homogeneous matrix; differentiable with respect to both inputs (training
    propagation, as in LightGCN or SimGCL).

    Args:
        adj ((torch.Tensor, torch.Tensor)): :math:`(\tilde{\mathbf{R}},
            \tilde{\mathbf{R}}^{\top})` from :func:`bipartite_gcn_norm`, in
            the dtype of the embeddings.
        user_x (torch.Tensor): User embeddings :obj:`[num_users, F]`.
        item_x (torch.Tensor): Item embeddings :obj:`[num_items, F]`.
    """
    mat, mat_t = adj
    return spmm(mat, item_x, mat_t), spmm(mat_t, user_x, mat)
