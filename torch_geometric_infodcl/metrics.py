import math
from typing import (
    Any,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import torch
from torch import Tensor

from torch_geometric_infodcl.utils.checks import (
    check_edge_index,
    check_embedding,
    check_int,
    check_same_size,
)
from torch_geometric_infodcl.utils.shards import shard_range

EdgeIndexes = Union[Tensor, Sequence[Tensor]]

#: The metrics :func:`full_rank_metrics` reports, as :obj:`"<name>@<K>"`.
METRIC_NAMES = ('recall', 'ndcg', 'precision', 'hit', 'mrr')


# Validation ##################################################################


def _check_embeddings(user_emb: Tensor, item_emb: Tensor) -> None:
    check_embedding(user_emb, 'user_emb')
    check_embedding(item_emb, 'item_emb')
    check_same_size(user_emb, item_emb, 'user_emb', 'item_emb')
    if user_emb.device != item_emb.device:
        raise ValueError(f"'user_emb' and 'item_emb' must be on the same "
                         f"device (got {user_emb.device} and "
                         f"{item_emb.device})")


def _sorted_unique(key: Tensor) -> Tensor:
    # Loaders usually emit pairs sorted by user: skip the sort then.
    if key.numel() > 1 and not bool((key[1:] >= key[:-1]).all()):
        key = torch.sort(key).values
    return torch.unique_consecutive(key)


def _pair_keys(edge_index: Tensor, num_users: int, num_items: int,
               name: str) -> Tensor:
    r"""Validates :obj:`edge_index` and returns its
    :obj:`user * num_items + item` keys (unsorted, as given)."""
    check_edge_index(edge_index, num_users, num_items, name)
    edge_index = edge_index.long()
    return edge_index[0] * num_items + edge_index[1]


def _exclude_keys(exclude_edge_index: Optional[EdgeIndexes], num_users: int,
                  num_items: int, device: torch.device) -> Tensor:
    if exclude_edge_index is None:
        return torch.empty(0, dtype=torch.long, device=device)
    if isinstance(exclude_edge_index, Tensor):
        exclude_edge_index = [exclude_edge_index]
    if not isinstance(exclude_edge_index, (list, tuple)):
        raise TypeError(f"'exclude_edge_index' must be a tensor or a list / "
                        f"tuple of tensors (got "
                        f"{type(exclude_edge_index).__name__})")
    keys = [
        _pair_keys(ei.to(device), num_users, num_items,
                   f'exclude_edge_index[{j}]')
        for j, ei in enumerate(exclude_edge_index)
    ]
    if len(keys) == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    return _sorted_unique(torch.cat(keys))


def _check_ks(ks: Sequence[int], num_items: int) -> List[int]:
    if isinstance(ks, int):
        ks = (ks, )
    ks = [int(k) for k in ks]
    if len(ks) == 0 or min(ks) <= 0:
        raise ValueError(f"'ks' must hold positive integers (got {ks})")
    if max(ks) > num_items:
        raise ValueError(f"'ks' holds K={max(ks)}, larger than the number "
                         f"of items ({num_items})")
    return sorted(set(ks))


def _check_overlap(target_keys: Tensor, exclude_keys: Tensor,
                   num_items: int) -> None:
    if exclude_keys.numel() == 0:
        return
    # Both key sets are sorted: a binary search finds the shared pairs.
    pos = torch.searchsorted(exclude_keys, target_keys)
    pos = pos.clamp(max=exclude_keys.numel() - 1)
    shared = target_keys[exclude_keys[pos] == target_keys]
    if shared.numel() > 0:
        key = int(shared[0])
        raise ValueError(
            f"{shared.numel()} target (user, item) pairs are also in "
            f"'exclude_edge_index' (first: user {key // num_items}, item "
            f"{key % num_items}); a masked item can never be retrieved")


def _score_dtype(user_emb: Tensor, item_emb: Tensor) -> torch.dtype:
    r"""At least float32 (half-precision scores overflow at norms of a few
    hundred), float64 where the Cauchy-Schwarz-type bound
    :math:`d \max|u| \max|i|` of the scores exceeds the float32 range."""
    dtype = torch.promote_types(
        torch.promote_types(user_emb.dtype, item_emb.dtype), torch.float32)
    largest = [max(-float(low), float(high)) for low, high in (
        torch.aminmax(user_emb), torch.aminmax(item_emb))]
    bound = user_emb.size(1) * largest[0] * largest[1]
    for candidate in (dtype, torch.float64):
        if bound < torch.finfo(candidate).max:
            return candidate
    raise ValueError(f"the scores of 'user_emb' and 'item_emb' would "
                     f"overflow even in float64 (largest entries "
                     f"{largest[0]:.3g} and {largest[1]:.3g})")


# Scoring #####################################################################


def _chunk_slice(sorted_rank: Tensor, start: int, end: int) -> slice:
    r"""The positions of :obj:`sorted_rank` that fall into
    :obj:`[start, end)`."""
    bounds = torch.tensor([start, end], device=sorted_rank.device)
    lo, hi = torch.searchsorted(sorted_rank, bounds).tolist()
    return slice(lo, hi)


def _ranked_hits(
    user_emb: Tensor,
    item_emb: Tensor,
    users: Tensor,
    target_rank: Tensor,
    target_item: Tensor,
    exclude_rank: Tensor,
    exclude_item: Tensor,
    start: int,
    end: int,
    max_k: int,
) -> Tensor:
    r"""Scores every item for users :obj:`users[start:end]`, masks excluded
    pairs and returns whether each of the top-:obj:`max_k` items is a
    target, as a :obj:`[end - start, max_k]` boolean matrix."""
    num_items = item_emb.size(0)
    scores = user_emb[users[start:end]].to(item_emb.dtype) @ item_emb.t()
    # Pairs are sorted by rank, so the chunk's pairs form one slice; flat
    # positions (local_rank * num_items + item) address the score block.
    part = _chunk_slice(exclude_rank, start, end)
    flat = (exclude_rank[part] - start) * num_items + exclude_item[part]
    scores.view(-1)[flat] = -math.inf
    top_index = _top_k_ties_by_id(scores, max_k)
    part = _chunk_slice(target_rank, start, end)
    target_flat = (target_rank[part] - start) * num_items + target_item[part]
    local = torch.arange(end - start, device=scores.device).view(-1, 1)
    top_flat = local * num_items + top_index
    pos = torch.searchsorted(target_flat, top_flat)
    pos = pos.clamp(max=target_flat.numel() - 1)
    return target_flat[pos] == top_flat


def _top_k_ties_by_id(scores: Tensor, k: int) -> Tensor:
    r"""The indices of the :obj:`k` largest scores of every row, ranked by
    decreasing score and, among equal scores, increasing item id."""
    # One extra column tells whether the k-th score ties with the next one.
    width = min(k + 1, scores.size(1))
    values, index = scores.topk(width, dim=1)
    ambiguous = (values[:, k - 1] == values[:, width - 1]) if width > k \
        else values.new_zeros(values.size(0), dtype=torch.bool)
    values, index = values[:, :k], index[:, :k]
    # Order the k winners by (score desc, id asc): sort by id, then a
    # stable sort by score.
    index, order = index.sort(dim=1)
    order = values.gather(1, order).argsort(dim=1, descending=True,
                                             stable=True)
    index = index.gather(1, order)
    # Where more items tie with the k-th score than there are slots,
    # torch.topk picks any of them; the rule wants the lowest ids.
    rows = ambiguous.nonzero().view(-1)
    if rows.numel() > 0:
        index[rows] = scores[rows].argsort(dim=1, descending=True,
                                           stable=True)[:, :k]
    return index


def _per_user_metrics(hits: Tensor, num_targets: Tensor,
                      ks: Sequence[int]) -> Dict[str, Tensor]:
    r"""Per-user metric values from the top-:math:`K` hit matrix."""
    hits = hits.double()
    max_k = hits.size(1)
    position = torch.arange(1, max_k + 1, dtype=torch.float64,
                            device=hits.device)
    discount = 1.0 / torch.log2(position + 1)
    # idcg[m] = sum of the first m discounts (m = 0 .. max_k).
    idcg = torch.cat([discount.new_zeros(1), discount.cumsum(0)])
    out = {}
    for k in ks:
        top = hits[:, :k]
        num_hits = top.sum(dim=1)
        out[f'recall@{k}'] = num_hits / num_targets
        out[f'ndcg@{k}'] = ((top * discount[:k]).sum(dim=1) /
                            idcg[num_targets.clamp(max=k).long()])
        out[f'precision@{k}'] = num_hits / k
        out[f'hit@{k}'] = (num_hits > 0).double()
        out[f'mrr@{k}'] = (top / position[:k]).max(dim=1).values
    return out


def full_rank_metrics(
    user_emb: Tensor,
    item_emb: Tensor,
    target_edge_index: Tensor,
    exclude_edge_index: Optional[EdgeIndexes] = None,
    ks: Sequence[int] = (10, 20, 50),
    batch_size: int = 2048,
    protocol: str = 'standard',
) -> Dict[str, float]:
    r"""Full-ranking top-:math:`K` evaluation for recommendation, as used by
    the `"InfoDCL: Informative Noise Enhanced Diffusion Based Contrastive
    Learning" <https://arxiv.org/abs/2512.16576>`_ paper. Every user with at
    least one target scores all items by the inner product
    :math:`\mathbf{u}^{\top}\mathbf{i}`, items in
    :obj:`exclude_edge_index` (*e.g.*, training and validation items) are
    masked, and with :math:`T_u` the targets and :math:`h_{u,r} \in \{0, 1\}`
    whether the item at rank :math:`r` is a target

    .. math::
        \textrm{Recall@}K = \frac{\sum_{r \le K} h_{u,r}}{|T_u|}, \quad
        \textrm{Precision@}K = \frac{\sum_{r \le K} h_{u,r}}{K}, \quad
        \textrm{NDCG@}K = \frac{\sum_{r \le K} h_{u,r} / \log_2(r + 1)}
        {\sum_{r \le \min(|T_u|, K)} 1 / \log_2(r + 1)},

    :math:`\textrm{Hit@}K = [\sum_{r \le K} h_{u,r} > 0]` and
    :math:`\textrm{MRR@}K = 1 / \min\{r \le K : h_{u,r} = 1\}` (0 without a
    hit). Pairs are sets (duplicates count once); users with targets but no
    excluded items (*e.g.*, no training interactions) are scored like all
    others. Items with equal scores are ranked by increasing item id (also
    at the cut-off :math:`K`), so the result does not depend on the device
    or on :func:`torch.topk`'s order. Scores are computed in at least
    float32 (float64 where float32 could overflow), whatever the dtype of
    the embeddings.

    Bad input raises a :class:`ValueError` (or :class:`TypeError`): a
    target pair that is also excluded (the message gives the number of such
    pairs), NaN or inf in the embeddings, mismatching embedding sizes, ids
    outside the embedding tables, a :math:`K` above :obj:`num_items`, or
    scores beyond the float64 range.

    With :obj:`protocol="standard"` every metric is the mean over users.
    :obj:`protocol="reference"` mimics the official code for comparison with
    its numbers only: users with targets are taken in id order and cut into
    batches of :obj:`batch_size`, each batch's per-user mean is rounded to
    4 decimals, and the batch means are averaged without weights (the last,
    smaller batch is over-weighted).

    Args:
        user_emb (torch.Tensor): User embeddings :obj:`[num_users, d]`.
        item_emb (torch.Tensor): Item embeddings :obj:`[num_items, d]`.
        target_edge_index (torch.Tensor): Held-out :obj:`(user, item)` pairs
            :obj:`[2, num_targets]`.
        exclude_edge_index (torch.Tensor or list, optional): Pairs (or a
            list / tuple of pair tensors) whose items are never
            recommended. Must not share a pair with the targets.
            (default: :obj:`None`)
        ks (Sequence[int], optional): Cut-offs :math:`K`, each at most
            :obj:`num_items`. (default: :obj:`(10, 20, 50)`)
        batch_size (int, optional): Users scored per block of shape
            :obj:`[batch_size, num_items]`. (default: :obj:`2048`)
        protocol (str, optional): :obj:`"standard"` or :obj:`"reference"`.
            (default: :obj:`"standard"`)

    Returns:
        A dictionary with :obj:`"recall@K"`, :obj:`"ndcg@K"`,
        :obj:`"precision@K"`, :obj:`"hit@K"`, :obj:`"mrr@K"` for every
        :math:`K` and :obj:`"num_users"`, the number of evaluated users.
    """
    if protocol not in ('standard', 'reference'):
        raise ValueError(f"'protocol' must be 'standard' or 'reference' "
                         f"(got {protocol!r})")
    if protocol == 'standard':
        names, sums, count = full_rank_metric_sums(
            user_emb, item_emb, target_edge_index, exclude_edge_index, ks,
            batch_size)
        return metric_means(names, sums.tolist(), count)
    ranking = _Ranking(user_emb, item_emb, target_edge_index,
                       exclude_edge_index, ks, batch_size)
    means = [values.mean(dim=0) for values in ranking.batches(
        0, ranking.num_users)]
    batch_means = torch.stack(means).tolist()
    out: Dict[str, Any] = {
        name: sum(round(row[j], 4) for row in batch_means) / len(batch_means)
        for j, name in enumerate(ranking.names)
    }
    out['num_users'] = ranking.num_users
    return out


def metric_means(names: Sequence[str], sums: Sequence[float],
                 count: int) -> Dict[str, Any]:
    r"""The per-user means of the metric :obj:`sums` over :obj:`count`
    users (the standard protocol's result), with :obj:`"num_users"`."""
    out: Dict[str, Any] = {name: total / count
                           for name, total in zip(names, sums)}
    out['num_users'] = count
    return out


def full_rank_metric_sums(
    user_emb: Tensor,
    item_emb: Tensor,
    target_edge_index: Tensor,
    exclude_edge_index: Optional[EdgeIndexes] = None,
    ks: Sequence[int] = (10, 20, 50),
    batch_size: int = 2048,
    shard: Tuple[int, int] = (0, 1),
) -> Tuple[List[str], Tensor, int]:
    r"""The per-user sums behind :func:`full_rank_metrics` (standard
    protocol) over one shard of the evaluated users: with
    :obj:`shard=(r, n)`, the users with targets, in id order, are split into
    :obj:`n` contiguous parts (sizes differing by at most one, no user
    repeated) and only part :obj:`r` is scored. Adding the sums and counts
    of all parts and dividing gives :func:`full_rank_metrics`' means;
    :func:`~torch_geometric_infodcl.distributed.sharded_full_rank_metrics`
    does so across the ranks of a process group.

    Returns:
        :obj:`(names, sums, count)`: the metric names, their float64 sums
        over the shard's users (a tensor on the embeddings' device, no host
        synchronisation per block) and the shard's number of users.
    """
    ranking = _Ranking(user_emb, item_emb, target_edge_index,
                       exclude_edge_index, ks, batch_size)
    start, end = shard_range(ranking.num_users, *shard)
    sums = torch.zeros(len(ranking.names), dtype=torch.float64,
                       device=user_emb.device)
    for values in ranking.batches(start, end):
        sums += values.sum(dim=0)
    return ranking.names, sums, end - start


class _Ranking:
    r"""The checked inputs of a full-rank evaluation, indexed by the
    evaluated users (those with targets, in id order)."""
    def __init__(self, user_emb: Tensor, item_emb: Tensor,
                 target_edge_index: Tensor,
                 exclude_edge_index: Optional[EdgeIndexes],
                 ks: Sequence[int], batch_size: int) -> None:
        check_int(batch_size, 'batch_size')
        _check_embeddings(user_emb, item_emb)
        num_users, num_items = user_emb.size(0), item_emb.size(0)
        self.ks = _check_ks(ks, num_items)
        self.names = [f'{name}@{k}' for k in self.ks
                      for name in METRIC_NAMES]
        self.batch_size = batch_size
        device = user_emb.device
        target = _sorted_unique(
            _pair_keys(
                target_edge_index.to(device) if isinstance(
                    target_edge_index, Tensor) else target_edge_index,
                num_users, num_items, 'target_edge_index'))
        if target.numel() == 0:
            raise ValueError("'target_edge_index' holds no pairs")
        exclude = _exclude_keys(exclude_edge_index, num_users, num_items,
                                device)
        _check_overlap(target, exclude, num_items)

        # rank[u] is u's row among the evaluated users (-1: none).
        target_user = target // num_items
        self.target_item = target % num_items
        self.users, self.num_targets = torch.unique_consecutive(
            target_user, return_counts=True)
        self.num_users = self.users.numel()
        rank = torch.full((num_users, ), -1, dtype=torch.long, device=device)
        rank[self.users] = torch.arange(self.num_users, device=device)
        self.target_rank = rank[target_user]  # sorted: keys sorted by user
        exclude_rank = rank[exclude // num_items]
        evaluated = exclude_rank >= 0
        self.exclude_rank = exclude_rank[evaluated]
        self.exclude_item = exclude[evaluated] % num_items
        self.user_emb = user_emb
        self.item_emb = item_emb.to(_score_dtype(user_emb, item_emb))

    def batches(self, start: int, end: int) -> Iterator[Tensor]:
        r"""Yields the per-user metric values :obj:`[b, len(names)]`
        (float64) of the evaluated users :obj:`[start, end)`, in blocks of
        :obj:`batch_size` users counted from :obj:`start`."""
        for lo in range(start, end, self.batch_size):
            hi = min(lo + self.batch_size, end)
            hits = _ranked_hits(self.user_emb, self.item_emb, self.users,
                                self.target_rank, self.target_item,
                                self.exclude_rank, self.exclude_item, lo, hi,
                                max(self.ks))
            values = _per_user_metrics(hits,
                                       self.num_targets[lo:hi].double(),
                                       self.ks)
            yield torch.stack([values[name] for name in self.names], dim=1)
