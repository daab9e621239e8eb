import os
import warnings
from typing import NamedTuple, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.data import HeteroData
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import LightGCN
from torch_geometric.transforms import BaseTransform

from torch_geometric_infodcl.utils import check_edge_index, check_embedding

EDGE_TYPE = ('user', 'interacts', 'item')

BaseSpec = Union[str, Sequence[Union[Tensor, str, os.PathLike]]]

# Float32 bits of a value in (0, 2) fit into 30 bits; ``_topk_per_row`` packs
# (row, value bits, column) into one int64 sort key.
_VALUE_BITS = 30
_KEY_BITS = 63


class _Incidence(NamedTuple):
    r"""The deduplicated training interactions as CSR matrices."""
    user_item: Tensor  # [num_users, num_items] CSR of ones
    item_user: Tensor  # [num_items, num_users] CSR of ones
    user_degree: Tensor  # [num_users] float32
    item_degree: Tensor  # [num_items] float32
    edge_index: Tensor  # [2, E] unique pairs sorted by (user, item)


# Validation ##################################################################


def _check_edge_index(edge_index: Tensor, num_users: int, num_items: int,
                      name: str = 'edge_index') -> None:
    check_edge_index(edge_index, num_users, num_items, name)


def _check_num_nodes(num_users: int, num_items: int) -> None:
    for kind, num in (('num_users', num_users), ('num_items', num_items)):
        if not isinstance(num, (int, np.integer)) or num <= 0:
            raise ValueError(f"'{kind}' must be a positive integer "
                             f"(got {num!r})")


def _check_embedding(emb: Tensor, num_rows: int, name: str) -> Tensor:
    return check_embedding(emb, name, num_rows)


def _check_positive(value: int, name: str) -> None:
    if not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"'{name}' must be a positive integer "
                         f"(got {value!r})")


# Sparse building blocks ######################################################


def _csr(row: Tensor, col: Tensor, value: Tensor, num_rows: int,
         num_cols: int) -> Tensor:
    r"""A CSR matrix from entries already sorted by :obj:`row`."""
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=row.device)
    crow[1:] = torch.bincount(row, minlength=num_rows).cumsum(0)
    with warnings.catch_warnings():  # CSR support is flagged as beta.
        warnings.filterwarnings('ignore', '.*Sparse CSR tensor support.*')
        return torch.sparse_csr_tensor(crow, col, value, (num_rows, num_cols),
                                       check_invariants=False)


def _csr_rows(csr: Tensor, start: int, end: int) -> Tensor:
    r"""Rows :obj:`start:end` of a CSR matrix, without copying the rest."""
    crow = csr.crow_indices()[start:end + 1]
    lo, hi = int(crow[0]), int(crow[-1])
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', '.*Sparse CSR tensor support.*')
        return torch.sparse_csr_tensor(crow - lo, csr.col_indices()[lo:hi],
                                       csr.values()[lo:hi],
                                       (end - start, csr.size(1)),
                                       check_invariants=False)


def _csr_row_index(csr: Tensor) -> Tensor:
    r"""The row of every stored entry of a CSR matrix."""
    counts = csr.crow_indices().diff()
    rows = torch.arange(csr.size(0), device=counts.device)
    return rows.repeat_interleave(counts)


def _incidence(edge_index: Tensor, num_users: int,
               num_items: int) -> _Incidence:
    _check_num_nodes(num_users, num_items)
    _check_edge_index(edge_index, num_users, num_items)
    edge_index = edge_index.long()
    # Neighbourhoods are sets: duplicated interactions count once.
    key = torch.unique(edge_index[0] * num_items + edge_index[1])
    user, item = key // num_items, key % num_items
    ones = torch.ones(key.numel(), device=key.device)
    user_item = _csr(user, item, ones, num_users, num_items)
    item_key = torch.sort(item * num_users + user).values
    item_user = _csr(item_key // num_users, item_key % num_users, ones,
                     num_items, num_users)
    user_degree = torch.bincount(user, minlength=num_users).float()
    item_degree = torch.bincount(item, minlength=num_items).float()
    return _Incidence(user_item, item_user, user_degree, item_degree,
                      torch.stack([user, item]))


def _jaccard_rows(
    incidence: _Incidence,
    side: str,
    start: int,
    end: int,
) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Jaccard similarities of rows :obj:`start:end` of :obj:`side` to all
    nodes of :obj:`side` as COO entries :obj:`(local_row, col, value)`.

    Only co-occurring pairs are stored; the diagonal is stored with value 0
    so that the entries keep the CSR layout of the co-occurrence product.
    """
    if side == 'user':
        left, right, degree = (incidence.user_item, incidence.item_user,
                               incidence.user_degree)
    else:
        left, right, degree = (incidence.item_user, incidence.user_item,
                               incidence.item_degree)
    # |N(a) ∩ N(b)| for the chunk against every node: a sparse product.
    inter = torch.sparse.mm(_csr_rows(left, start, end), right)
    row = _csr_row_index(inter)
    col = inter.col_indices()
    count = inter.values()
    union = degree[row + start] + degree[col] - count
    # Float32 on purpose: equal ratios give bit-equal values (1e-8 vanishes
    # next to a union >= 1), so ties are exact and broken by id below.
    value = count.float() / (union.float() + 1e-8)
    value = value.masked_fill(col == row + start, 0.)
    return row, col, value


def jaccard_similarity(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    side: str = 'item',
    chunk_size: int = 1024,
) -> Tensor:
    r"""Returns the Jaccard similarity between all pairs of users
    (:obj:`side="user"`) or items (:obj:`side="item"`) of a bipartite
    interaction graph, as used for the auxiliary metadata of the
    `"InfoDCL: Informative Noise Enhanced Diffusion Based Contrastive
    Learning" <https://arxiv.org/abs/2512.16576>`_ paper

    .. math::
        s(a, b) = \frac{|\mathcal{N}(a) \cap \mathcal{N}(b)|}
        {|\mathcal{N}(a) \cup \mathcal{N}(b)| + 10^{-8}},
        \qquad s(a, a) = 0.

    Intersections are computed by the sparse products
    :math:`\mathbf{R}\mathbf{R}^{\top}` (users) or
    :math:`\mathbf{R}^{\top}\mathbf{R}` (items) in chunks of
    :obj:`chunk_size` rows; only co-occurring pairs are returned.

    Args:
        edge_index (torch.Tensor): Training interactions of shape
            :obj:`[2, num_edges]` (row 0: user ids, row 1: item ids).
            Duplicated pairs count once.
        num_users (int): The number of users.
        num_items (int): The number of items.
        side (str, optional): :obj:`"user"` or :obj:`"item"`.
            (default: :obj:`"item"`)
        chunk_size (int, optional): Rows per sparse product.
            (default: :obj:`1024`)

    Returns:
        A coalesced sparse COO tensor of shape :obj:`[n, n]` (float32).
    """
    if side not in ('user', 'item'):
        raise ValueError(f"'side' must be 'user' or 'item' (got {side!r})")
    _check_positive(chunk_size, 'chunk_size')
    incidence = _incidence(edge_index, num_users, num_items)
    num_nodes = num_users if side == 'user' else num_items
    rows, cols, values = [], [], []
    for start in range(0, num_nodes, chunk_size):
        end = min(start + chunk_size, num_nodes)
        row, col, value = _jaccard_rows(incidence, side, start, end)
        keep = value > 0
        rows.append(row[keep] + start)
        cols.append(col[keep])
        values.append(value[keep])
    index = torch.stack([torch.cat(rows), torch.cat(cols)])
    return torch.sparse_coo_tensor(index, torch.cat(values),
                                   (num_nodes, num_nodes), is_coalesced=True,
                                   check_invariants=False)


def _topk_per_row(row: Tensor, col: Tensor, value: Tensor, num_rows: int,
                  num_cols: int, k: int) -> Tuple[Tensor, Tensor]:
    r"""Keeps the :obj:`k` largest entries of every row; ties go to the lower
    column id. :obj:`value` must lie in :math:`(0, 2)` (float32).

    One int64 sort over :obj:`(row, -value, col)` packed into a single key.
    """
    col_bits = max(1, (num_cols - 1).bit_length())
    row_shift = _VALUE_BITS + col_bits
    value_bits = value.float().view(torch.int32).long()
    # Non-negative floats order like their bit patterns; invert for
    # descending values.
    key = ((row << row_shift) | (((1 << _VALUE_BITS) - 1 - value_bits)
                                 << col_bits) | col)
    key = torch.sort(key).values
    row = key >> row_shift
    col = key & ((1 << col_bits) - 1)
    counts = torch.bincount(row, minlength=num_rows)
    first = counts.cumsum(0) - counts
    rank = torch.arange(key.numel(), device=key.device) - first[row]
    keep = rank < k
    return row[keep], col[keep]


def _max_chunk_rows(num_cols: int, chunk_size: int) -> int:
    r"""Caps the chunk so that the packed sort key fits in int64."""
    col_bits = max(1, (num_cols - 1).bit_length())
    row_bits = _KEY_BITS - _VALUE_BITS - col_bits
    if row_bits < 1:
        raise ValueError(f"Too many columns ({num_cols}) for top-k selection")
    return max(1, min(chunk_size, 1 << row_bits))


def _neighbour_mean(row: Tensor, col: Tensor, base: Tensor, fallback: Tensor,
                    num_rows: int) -> Tensor:
    r"""Mean of :obj:`base[col]` per row; :obj:`fallback` for empty rows."""
    out = base.new_zeros(num_rows, base.size(1))
    out.index_add_(0, row, base[col])
    count = torch.bincount(row, minlength=num_rows).view(-1, 1)
    return torch.where(count > 0, out / count.clamp(min=1), fallback)


# Metadata ####################################################################


def social_metadata(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    user_base: Tensor,
    item_base: Tensor,
    chunk_size: int = 1024,
) -> Tensor:
    r"""The user-similarity ("social") item metadata of the `"InfoDCL:
    Informative Noise Enhanced Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ paper.

    Every user embedding :math:`\mathbf{p}_u` is smoothed with its Jaccard
    neighbours (see :func:`jaccard_similarity`), and an item receives the
    mean smoothed embedding of its training users

    .. math::
        \tilde{\mathbf{p}}_u &= \frac{1}{2} \left( \mathbf{p}_u +
        \frac{\sum_{v} s(u, v) \, \mathbf{p}_v}{\sum_{v} s(u, v)} \right)

        \mathbf{m}^{\textrm{soc}}_i &= \frac{1}{|\mathcal{N}(i)|}
        \sum_{u \in \mathcal{N}(i)} \tilde{\mathbf{p}}_u,

    with :math:`\tilde{\mathbf{p}}_u = \mathbf{p}_u` if
    :math:`\sum_v s(u, v) = 0`, and
    :math:`\mathbf{m}^{\textrm{soc}}_i = \mathbf{q}_i` for items without
    training users.

    Args:
        edge_index (torch.Tensor): Training interactions
            :obj:`[2, num_edges]` (row 0: users, row 1: items).
        num_users (int): The number of users.
        num_items (int): The number of items.
        user_base (torch.Tensor): User embeddings :obj:`[num_users, d]`.
        item_base (torch.Tensor): Item embeddings :obj:`[num_items, d]`.
        chunk_size (int, optional): Users per sparse product
            :math:`\mathbf{R}\mathbf{R}^{\top}`. (default: :obj:`1024`)

    Returns:
        A float32 tensor of shape :obj:`[num_items, d]`.
    """
    _check_positive(chunk_size, 'chunk_size')
    incidence = _incidence(edge_index, num_users, num_items)
    user_base, item_base = _check_base_pair(user_base, item_base, num_users,
                                            num_items, edge_index.device)
    smoothed = []
    for start in range(0, num_users, chunk_size):
        end = min(start + chunk_size, num_users)
        row, col, value = _jaccard_rows(incidence, 'user', start, end)
        weights = _csr(row, col, value, end - start, num_users)
        weighted_sum = torch.sparse.mm(weights, user_base)
        total = user_base.new_zeros(end - start).index_add_(0, row, value)
        own = user_base[start:end]
        mixed = 0.5 * (own + weighted_sum / total.clamp(min=1e-30).view(-1, 1))
        smoothed.append(torch.where(total.view(-1, 1) > 0, mixed, own))
    smoothed_users = torch.cat(smoothed)
    summed = torch.sparse.mm(incidence.item_user, smoothed_users)
    degree = incidence.item_degree.view(-1, 1)
    return torch.where(degree > 0, summed / degree.clamp(min=1), item_base)


def knowledge_metadata(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    item_base: Tensor,
    top_k: int = 20,
    chunk_size: int = 1024,
) -> Tensor:
    r"""The item-similarity ("knowledge") item metadata of the `"InfoDCL:
    Informative Noise Enhanced Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ paper: the mean base embedding of
    the :obj:`top_k` most Jaccard-similar items

    .. math::
        \mathbf{m}^{\textrm{kg}}_i = \frac{1}{|\mathcal{T}_i|}
        \sum_{j \in \mathcal{T}_i} \mathbf{q}_j, \qquad
        \mathcal{T}_i = \operatorname{top-}k_{j \ne i,\ s(i, j) > 0}\, s(i, j),

    with :math:`\mathbf{m}^{\textrm{kg}}_i = \mathbf{q}_i` if
    :math:`\mathcal{T}_i = \emptyset`. Similarities are float32 (see
    :func:`jaccard_similarity`) and ties at the :obj:`top_k` boundary go to
    the lower item id, which reproduces the official Office files on every
    row.

    Args:
        edge_index (torch.Tensor): Training interactions
            :obj:`[2, num_edges]` (row 0: users, row 1: items).
        num_users (int): The number of users.
        num_items (int): The number of items.
        item_base (torch.Tensor): Item embeddings :obj:`[num_items, d]`.
        top_k (int, optional): The number of neighbours. (default: :obj:`20`)
        chunk_size (int, optional): Items per sparse product
            :math:`\mathbf{R}^{\top}\mathbf{R}`. (default: :obj:`1024`)

    Returns:
        A float32 tensor of shape :obj:`[num_items, d]`.
    """
    _check_positive(top_k, 'top_k')
    _check_positive(chunk_size, 'chunk_size')
    incidence = _incidence(edge_index, num_users, num_items)
    item_base = _check_embedding(item_base, num_items, 'item_base')
    item_base = item_base.to(edge_index.device, torch.float32)
    chunk_size = _max_chunk_rows(num_items, chunk_size)
    out = []
    for start in range(0, num_items, chunk_size):
        end = min(start + chunk_size, num_items)
        row, col, value = _jaccard_rows(incidence, 'item', start, end)
        keep = value > 0
        row, col = _topk_per_row(row[keep], col[keep], value[keep],
                                 end - start, num_items, top_k)
        out.append(
            _neighbour_mean(row, col, item_base, item_base[start:end],
                            end - start))
    return torch.cat(out)


def feature_metadata(
    x: Tensor,
    item_base: Tensor,
    top_k: int = 20,
    chunk_size: int = 1024,
) -> Tensor:
    r"""Item metadata from external item features :obj:`x` (*e.g.*, genres),
    an extra channel in the spirit of the `"InfoDCL: Informative Noise
    Enhanced Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ paper: the mean base embedding of
    the :obj:`top_k` items with the largest positive cosine feature
    similarity

    .. math::
        \mathbf{m}^{\textrm{feat}}_i = \frac{1}{|\mathcal{F}_i|}
        \sum_{j \in \mathcal{F}_i} \mathbf{q}_j, \qquad
        \mathcal{F}_i = \operatorname{top-}k_{j \ne i,\ c(i, j) > 0}\,
        c(i, j), \qquad
        c(i, j) = \frac{\mathbf{x}_i^{\top}\mathbf{x}_j}
        {\|\mathbf{x}_i\| \, \|\mathbf{x}_j\|},

    with :math:`\mathbf{m}^{\textrm{feat}}_i = \mathbf{q}_i` if
    :math:`\mathcal{F}_i = \emptyset` (*e.g.*, an all-zero feature row).
    Similarities are float32; ties go to the lower item id.

    Args:
        x (torch.Tensor): Item features :obj:`[num_items, F]`.
        item_base (torch.Tensor): Item embeddings :obj:`[num_items, d]`.
        top_k (int, optional): The number of neighbours. (default: :obj:`20`)
        chunk_size (int, optional): Items per dense similarity block of
            shape :obj:`[chunk_size, num_items]`. (default: :obj:`1024`)

    Returns:
        A float32 tensor of shape :obj:`[num_items, d]`.
    """
    _check_positive(top_k, 'top_k')
    _check_positive(chunk_size, 'chunk_size')
    if not isinstance(item_base, Tensor):
        raise TypeError("'item_base' must be a torch.Tensor")
    num_items = item_base.size(0)
    x = _check_embedding(x.float() if isinstance(x, Tensor) else x,
                         num_items, 'x')
    item_base = _check_embedding(item_base, num_items, 'item_base')
    item_base = item_base.to(x.device, torch.float32)
    x = F.normalize(x, dim=1)  # all-zero rows stay zero: no neighbours.
    chunk_size = _max_chunk_rows(num_items, chunk_size)
    out = []
    for start in range(0, num_items, chunk_size):
        end = min(start + chunk_size, num_items)
        sim = x[start:end] @ x.t()
        local = torch.arange(end - start, device=x.device)
        sim[local, local + start] = 0.
        row, col = (sim > 0).nonzero(as_tuple=True)
        value = sim[row, col].clamp(max=1.)  # rounding may exceed 1
        row, col = _topk_per_row(row, col, value, end - start, num_items,
                                 top_k)
        out.append(
            _neighbour_mean(row, col, item_base, item_base[start:end],
                            end - start))
    return torch.cat(out)


# Base embeddings #############################################################


def _check_base_pair(user_base: Tensor, item_base: Tensor, num_users: int,
                     num_items: int,
                     device: torch.device) -> Tuple[Tensor, Tensor]:
    user_base = _check_embedding(user_base, num_users, 'user_base')
    item_base = _check_embedding(item_base, num_items, 'item_base')
    if user_base.size(1) != item_base.size(1):
        raise ValueError(f"'user_base' and 'item_base' must have the same "
                         f"dimension (got {user_base.size(1)} and "
                         f"{item_base.size(1)})")
    return (user_base.to(device, torch.float32),
            item_base.to(device, torch.float32))


def _normalised_csr(incidence: _Incidence) -> Tuple[Tensor, Tensor]:
    r""":math:`\mathbf{D}_u^{-1/2} \mathbf{R} \mathbf{D}_i^{-1/2}` and its
    transpose as CSR matrices."""
    out = []
    for csr, row_degree, col_degree in (
        (incidence.user_item, incidence.user_degree, incidence.item_degree),
        (incidence.item_user, incidence.item_degree, incidence.user_degree),
    ):
        row, col = _csr_row_index(csr), csr.col_indices()
        value = (row_degree[row] * col_degree[col]).rsqrt()
        out.append(_csr(row, col, value, csr.size(0), csr.size(1)))
    return out[0], out[1]


def _randomized_svd(
    mat: Tensor,
    mat_t: Tensor,
    rank: int,
    niter: int,
    generator: torch.Generator,
) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Randomised SVD with subspace iteration (Halko et al., 2011) of a CSR
    matrix given with its CSR transpose, so that every product is a fast
    CSR-times-dense product."""
    probe = torch.randn(mat.size(1), rank, generator=generator,
                        device=mat.device)
    basis = torch.linalg.qr(torch.sparse.mm(mat, probe)).Q
    for _ in range(niter):
        basis = torch.linalg.qr(torch.sparse.mm(mat_t, basis)).Q
        basis = torch.linalg.qr(torch.sparse.mm(mat, basis)).Q
    # Project onto the basis: mat ~ basis @ (basis^T mat), a [rank, n] SVD.
    small = torch.sparse.mm(mat_t, basis).t()
    left, sigma, right_t = torch.linalg.svd(small, full_matrices=False)
    return basis @ left, sigma, right_t.t()


def svd_base(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    dim: int = 64,
    seed: int = 0,
    niter: int = 6,
) -> Tuple[Tensor, Tensor]:
    r"""Spectral base embeddings: the rank-:obj:`dim` truncated SVD of the
    symmetric-normalised interaction matrix

    .. math::
        \mathbf{D}_u^{-1/2} \mathbf{R} \mathbf{D}_i^{-1/2} \approx
        \mathbf{U} \mathbf{\Sigma} \mathbf{V}^{\top}, \qquad
        \mathbf{P} = \mathbf{U} \mathbf{\Sigma}^{1/2}, \quad
        \mathbf{Q} = \mathbf{V} \mathbf{\Sigma}^{1/2},

    computed by a seeded randomised SVD (subspace iteration). Each
    component's sign is fixed so that its largest-magnitude item entry is
    positive, which makes the result deterministic under :obj:`seed`.

    Args:
        edge_index (torch.Tensor): Training interactions
            :obj:`[2, num_edges]` (row 0: users, row 1: items).
        num_users (int): The number of users.
        num_items (int): The number of items.
        dim (int, optional): The embedding size. (default: :obj:`64`)
        seed (int, optional): Seed of the random projection.
            (default: :obj:`0`)
        niter (int, optional): Subspace iterations of the randomised SVD.
            (default: :obj:`6`)

    Returns:
        :obj:`(user_base, item_base)` of shapes :obj:`[num_users, dim]` and
        :obj:`[num_items, dim]` (float32).
    """
    incidence = _incidence(edge_index, num_users, num_items)
    if not isinstance(dim, (int, np.integer)) or not \
            0 < dim <= min(num_users, num_items):
        raise ValueError(f"'dim' must be in [1, min(num_users, num_items)] = "
                         f"[1, {min(num_users, num_items)}] (got {dim!r})")
    norm, norm_t = _normalised_csr(incidence)
    # Oversampling (2 x dim) sharpens the randomised estimate of the top
    # components: on Office the 64th singular value is then within ~2%.
    rank = min(2 * dim, num_users, num_items)
    generator = torch.Generator(edge_index.device).manual_seed(seed)
    left, sigma, right = _randomized_svd(norm, norm_t, rank, niter, generator)
    left, sigma, right = left[:, :dim], sigma[:dim], right[:, :dim]
    peak = right.abs().argmax(dim=0)
    sign = right[peak, torch.arange(dim, device=right.device)].sign()
    sign[sign == 0] = 1.
    root = sigma.clamp(min=0).sqrt() * sign
    return (left * root).float(), (right * root).float()


def _sample_negatives(user: Tensor, positives: Tensor, num_items: int,
                      generator: torch.Generator, rounds: int = 10) -> Tensor:
    r"""Uniform items, re-drawn (a few vectorised rounds) where they hit a
    training item of the user; :obj:`positives` holds sorted
    :obj:`user * num_items + item` keys."""
    neg = torch.randint(num_items, user.shape, generator=generator,
                        device=user.device)
    for _ in range(rounds):
        key = user * num_items + neg
        pos = torch.searchsorted(positives, key).clamp(max=positives.numel() -
                                                       1)
        hit = positives[pos] == key
        if not bool(hit.any()):
            break
        redraw = torch.randint(num_items, user.shape, generator=generator,
                               device=user.device)
        neg = torch.where(hit, redraw, neg)
    return neg


def lightgcn_base(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    dim: int = 64,
    num_layers: int = 3,
    epochs: int = 20,
    batch_size: int = 8192,
    lr: float = 0.01,
    lambda_reg: float = 1e-4,
    seed: int = 0,
) -> Tuple[Tensor, Tensor]:
    r"""Base embeddings from a short pre-training of PyG's
    :class:`~torch_geometric.nn.models.LightGCN` with its BPR
    :meth:`~torch_geometric.nn.models.LightGCN.recommendation_loss` on the
    training interactions (uniform negatives that avoid the user's training
    items, Adam). Returns the layer-0 (ego) embeddings, the likely origin of
    the official pretrained files.

    .. math::
        \mathcal{L} = -\frac{1}{B} \sum_{(u, i, j)} \ln \sigma \left(
        \mathbf{e}_u^{\top}\mathbf{e}_i - \mathbf{e}_u^{\top}\mathbf{e}_j
        \right) + \lambda \| \mathbf{E}^{(0)}_{\textrm{batch}} \|^2 / B

    Args:
        edge_index (torch.Tensor): Training interactions
            :obj:`[2, num_edges]` (row 0: users, row 1: items).
        num_users (int): The number of users.
        num_items (int): The number of items.
        dim (int, optional): The embedding size. (default: :obj:`64`)
        num_layers (int, optional): LightGCN layers. (default: :obj:`3`)
        epochs (int, optional): Passes over the interactions.
            (default: :obj:`20`)
        batch_size (int, optional): Interactions per step.
            (default: :obj:`8192`)
        lr (float, optional): Adam learning rate. (default: :obj:`0.01`)
        lambda_reg (float, optional): L2 strength :math:`\lambda`.
            (default: :obj:`1e-4`)
        seed (int, optional): Seed of initialisation and sampling.
            (default: :obj:`0`)

    Returns:
        :obj:`(user_base, item_base)` of shapes :obj:`[num_users, dim]` and
        :obj:`[num_items, dim]` (float32).
    """
    for value, name in ((dim, 'dim'), (num_layers, 'num_layers'),
                        (batch_size, 'batch_size')):
        _check_positive(value, name)
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"'epochs' must be a non-negative integer "
                         f"(got {epochs!r})")
    incidence = _incidence(edge_index, num_users, num_items)
    device = edge_index.device
    user, item = incidence.edge_index
    graph = torch.cat([
        torch.stack([user, item + num_users]),
        torch.stack([item + num_users, user]),
    ], dim=1)
    num_nodes = num_users + num_items
    graph, weight = gcn_norm(graph, None, num_nodes, add_self_loops=False)
    order = torch.argsort(graph[0] * num_nodes + graph[1])
    adj = _csr(graph[0, order], graph[1, order], weight[order], num_nodes,
               num_nodes)
    positives = user * num_items + item  # sorted by construction

    devices = [device] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = LightGCN(num_nodes, dim, num_layers, normalize=False)
        model = model.to(device)
    generator = torch.Generator(device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(user.numel(), generator=generator,
                              device=device)
        for batch in perm.split(batch_size):
            u, pos = user[batch], item[batch]
            neg = _sample_negatives(u, positives, num_items, generator)
            emb = model.get_embedding(adj)
            user_emb = emb[u]
            pos_rank = (user_emb * emb[pos + num_users]).sum(dim=-1)
            neg_rank = (user_emb * emb[neg + num_users]).sum(dim=-1)
            node_id = torch.cat([u, pos + num_users, neg + num_users])
            loss = model.recommendation_loss(pos_rank, neg_rank,
                                             node_id=node_id,
                                             lambda_reg=lambda_reg)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    ego = model.embedding.weight.detach().float()
    return ego[:num_users].clone(), ego[num_users:].clone()


def _load_npy(path: Union[str, os.PathLike]) -> Tensor:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Base embedding file '{path}' not found")
    return torch.from_numpy(np.load(path, allow_pickle=False))


# Transform ###################################################################


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
        _check_positive(top_k, 'top_k')
        _check_positive(dim, 'dim')
        if isinstance(base, str):
            if base not in ('svd', 'lightgcn'):
                raise ValueError(f"'base' must be 'svd', 'lightgcn' or a pair "
                                 f"of tensors / .npy paths (got {base!r})")
        elif not (isinstance(base, (tuple, list)) and len(base) == 2):
            raise TypeError(f"'base' must be 'svd', 'lightgcn' or a pair of "
                            f"tensors / .npy paths "
                            f"(got {type(base).__name__})")
        _check_positive(chunk_size, 'chunk_size')
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
                _check_embedding(emb, num, os.fspath(spec))
        return _check_base_pair(user_base, item_base, num_users, num_items,
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
