r"""The metadata maths of the `"InfoDCL: Informative Noise Enhanced Diffusion
Based Contrastive Learning" <https://arxiv.org/abs/2512.16576>`_ paper:
Jaccard similarities of the training interactions and the social, knowledge
and feature item metadata built from them and from base embeddings."""
from typing import NamedTuple, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric_infodcl.utils.checks import (
    check_edge_index,
    check_embedding,
    check_int,
    check_same_size,
    check_tensor,
)
from torch_geometric_infodcl.utils.sparse import (
    csr_row_index,
    csr_rows,
    to_csr,
)

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


def unique_pairs(edge_index: Tensor, num_users: int, num_items: int) -> Tensor:
    r"""Checks the (user, item) :obj:`edge_index` and returns its distinct
    pairs sorted by (user, item): neighbourhoods are sets, so duplicated
    interactions count once."""
    check_int(num_users, 'num_users')
    check_int(num_items, 'num_items')
    check_edge_index(edge_index, num_users, num_items)
    edge_index = edge_index.long()
    key = torch.unique(edge_index[0] * num_items + edge_index[1])
    return torch.stack([key // num_items, key % num_items])


def _incidence(edge_index: Tensor, num_users: int,
               num_items: int) -> _Incidence:
    user, item = unique_pairs(edge_index, num_users, num_items)
    ones = torch.ones(user.numel(), device=user.device)
    user_item = to_csr(user, item, ones, (num_users, num_items),
                       is_sorted=True)
    item_user = to_csr(item, user, ones, (num_items, num_users))
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
    inter = torch.sparse.mm(csr_rows(left, start, end), right)
    row = csr_row_index(inter)
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
    check_int(chunk_size, 'chunk_size')
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
    check_int(chunk_size, 'chunk_size')
    incidence = _incidence(edge_index, num_users, num_items)
    user_base, item_base = check_base_pair(user_base, item_base, num_users,
                                           num_items, edge_index.device)
    smoothed = []
    for start in range(0, num_users, chunk_size):
        end = min(start + chunk_size, num_users)
        row, col, value = _jaccard_rows(incidence, 'user', start, end)
        weights = to_csr(row, col, value, (end - start, num_users),
                         is_sorted=True)
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
    check_int(top_k, 'top_k')
    check_int(chunk_size, 'chunk_size')
    incidence = _incidence(edge_index, num_users, num_items)
    item_base = check_embedding(item_base, 'item_base', num_items)
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
    check_int(top_k, 'top_k')
    check_int(chunk_size, 'chunk_size')
    num_items = check_tensor(item_base, 'item_base').size(0)
    x = check_embedding(x.float() if isinstance(x, Tensor) else x, 'x',
                        num_items)
    item_base = check_embedding(item_base, 'item_base', num_items)
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


def check_base_pair(user_base: Tensor, item_base: Tensor, num_users: int,
                    num_items: int,
                    device: torch.device) -> Tuple[Tensor, Tensor]:
    r"""Checks base embeddings :obj:`[num_users, d]` and
    :obj:`[num_items, d]` and returns them as float32 on :obj:`device`."""
    check_embedding(user_base, 'user_base', num_users)
    check_embedding(item_base, 'item_base', num_items)
    check_same_size(user_base, item_base, 'user_base', 'item_base')
    return (user_base.to(device, torch.float32),
            item_base.to(device, torch.float32))
