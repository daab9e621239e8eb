from typing import Iterator, NamedTuple, Optional

import torch
from torch import Tensor

from torch_geometric_infodcl.utils.checks import (
    check_edge_index,
    check_ids,
    check_int,
    check_non_empty,
    check_tensor,
)
from torch_geometric_infodcl.utils.shards import shard_range


class TrainBatch(NamedTuple):
    r"""A mini-batch of BPR training triples :math:`(u, i^+, i^-)`.

    Args:
        user (torch.Tensor): User ids, shape :obj:`[B]`.
        pos_item (torch.Tensor): Observed (positive) item ids, shape
            :obj:`[B]`.
        neg_item (torch.Tensor): Sampled negative item ids, shape :obj:`[B]`.
    """
    user: Tensor
    pos_item: Tensor
    neg_item: Tensor


def check_batch(batch: TrainBatch, num_users: int, num_items: int) -> None:
    r"""Checks a :class:`TrainBatch` against the node counts: equal-length
    1-D integer fields, not empty, ids in range; errors name the field."""
    if not isinstance(batch, TrainBatch):
        raise TypeError(f"'batch' must be a TrainBatch "
                        f"(got {type(batch).__name__})")
    for name in TrainBatch._fields:
        check_tensor(getattr(batch, name), f'batch.{name}', ndim=1)
    size = batch.user.size()
    if batch.pos_item.size() != size or batch.neg_item.size() != size:
        raise ValueError(f"batch fields must have the same shape (got user "
                         f"{list(size)}, pos_item "
                         f"{list(batch.pos_item.size())}, neg_item "
                         f"{list(batch.neg_item.size())})")
    check_non_empty(batch.user, 'batch')
    for name, kind, bound in (('user', 'user', num_users),
                              ('pos_item', 'item', num_items),
                              ('neg_item', 'item', num_items)):
        check_ids(getattr(batch, name), bound, f'batch.{name}',
                  f'num_{kind}s is {bound}')


def check_world_batch(batch_size: int, world_size: int) -> None:
    r"""Checks that :obj:`world_size` processes can share a global batch of
    :obj:`batch_size` triples equally."""
    check_int(world_size, 'world_size')
    if batch_size % world_size != 0:
        raise ValueError(f"the batch size {batch_size} is not divisible by "
                         f"the world size {world_size} (the number of "
                         f"processes, torchrun --nproc_per_node): each "
                         f"process takes an equal part of every global "
                         f"batch; choose a batch size that is a multiple of "
                         f"{world_size}")


class NegativeSampler:
    r"""Vectorised uniform negative sampling for BPR-style training, as used
    by `"InfoDCL: Informative Noise Enhanced Diffusion Based Contrastive
    Learning" <https://arxiv.org/abs/2512.16576>`_ (and LightGCN).

    For a user :math:`u` with training items :math:`\mathcal{N}(u)`, a
    negative is drawn uniformly from the items the user has not interacted
    with:

    .. math::
        i^- \sim \mathrm{Uniform}\left(\mathcal{I} \setminus
        \mathcal{N}(u)\right).

    Candidates for all requested users are drawn at once; membership in the
    training set is tested against the sorted keys
    :math:`u \cdot |\mathcal{I}| + i` with :meth:`torch.searchsorted`, and
    only the collisions are redrawn, for at most :obj:`max_rounds` vectorised
    rounds. Collisions that survive all rounds (users who interacted with
    most of the catalogue) are resolved exactly: the :math:`r`-th
    non-interacted item of :math:`u`, :math:`r \sim
    \mathrm{Uniform}\{0, \ldots, |\mathcal{I}| - |\mathcal{N}(u)| - 1\}`,
    is found with one more :meth:`torch.searchsorted`. Every accepted sample
    is therefore uniform over :math:`\mathcal{I} \setminus \mathcal{N}(u)`,
    and sampling never loops over users or samples.

    Args:
        edge_index (torch.Tensor): The training (user, item) edge index of
            shape :obj:`[2, E]`; row 0 holds user ids, row 1 item ids.
            Sampling and batches live on its device.
        num_users (int): The number of users.
        num_items (int): The number of items.
        max_rounds (int, optional): The number of rejection rounds before
            the remaining collisions are resolved exactly (:obj:`0` samples
            exactly from the start). (default: :obj:`5`)
    """
    def __init__(self, edge_index: Tensor, num_users: int, num_items: int,
                 max_rounds: int = 5) -> None:
        check_int(num_users, 'num_users')
        check_int(num_items, 'num_items')
        check_int(max_rounds, 'max_rounds', min_value=0)
        check_edge_index(edge_index, num_users, num_items)
        if edge_index.size(1) == 0:
            raise ValueError("'edge_index' has no training interactions")

        self.edge_index = edge_index.long()
        self.num_users = num_users
        self.num_items = num_items
        self.max_rounds = max_rounds
        self._build_index()

    def _build_index(self) -> None:
        user, item = self.edge_index
        # Sorted unique keys: duplicates of an interaction count once.
        self.keys = torch.unique(user * self.num_items + item)
        key_user = torch.div(self.keys, self.num_items, rounding_mode='floor')
        key_item = self.keys - key_user * self.num_items

        self.degree = torch.bincount(key_user, minlength=self.num_users)
        self.rowptr = torch.cumsum(self.degree, 0) - self.degree
        full = (self.degree >= self.num_items).nonzero().view(-1)
        if full.numel() > 0:
            raise ValueError(
                f"user {int(full[0])} has interacted with all "
                f"{self.num_items} items, so no negative item exists for it "
                f"({full.numel()} such users)")

        # For the k-th smallest training item s_k of a user, s_k - k is the
        # number of non-interacted items below s_k. These "gap" keys are
        # sorted, which lets `_sample_exact` invert rank -> item.
        rank_in_row = torch.arange(self.keys.numel(),
                                   device=self.keys.device)
        rank_in_row = rank_in_row - self.rowptr[key_user]
        self.gap_keys = key_user * self.num_items + (key_item - rank_in_row)

    @property
    def num_edges(self) -> int:
        r"""The number of training interactions (one epoch's samples)."""
        return self.edge_index.size(1)

    def num_batches(self, batch_size: int, world_size: int = 1) -> int:
        r"""The number of mini-batches of one epoch (see
        :meth:`epoch_batches`)."""
        full, rest = divmod(self.num_edges, batch_size)
        return full + (1 if rest >= world_size else 0)

    def is_interacted(self, user: Tensor, item: Tensor) -> Tensor:
        r"""Returns a boolean mask telling which :obj:`(user, item)` pairs
        are training interactions."""
        query = user * self.num_items + item
        pos = torch.searchsorted(self.keys, query)
        pos = pos.clamp(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def sample(self, user: Tensor,
               generator: Optional[torch.Generator] = None) -> Tensor:
        r"""Draws one negative item for every entry of :obj:`user`.

        Args:
            user (torch.Tensor): User ids, shape :obj:`[B]`.
            generator (torch.Generator, optional): The random number
                generator; it must live on the sampler's device.
                (default: :obj:`None`)
        """
        self._check_generator(generator)
        check_ids(user, self.num_users, 'user',
                  f'num_users is {self.num_users}')
        user = user.to(self.keys.device, torch.long)
        item = self._randint(self.num_items, user.numel(), generator)
        collide = self.is_interacted(user, item).nonzero().view(-1)
        for _ in range(self.max_rounds):
            if collide.numel() == 0:
                return item
            redraw = self._randint(self.num_items, collide.numel(), generator)
            item[collide] = redraw
            still = self.is_interacted(user[collide], redraw)
            collide = collide[still]
        if collide.numel() > 0:
            item[collide] = self._sample_exact(user[collide], generator)
        return item

    def _sample_exact(self, user: Tensor,
                      generator: Optional[torch.Generator]) -> Tensor:
        num_free = self.num_items - self.degree[user]
        # A 62-bit draw reduced modulo num_free: the modulo bias is below
        # num_items / 2**62, i.e. negligible, and no float64 is needed.
        rank = self._randint(2**62, user.numel(), generator) % num_free
        # Training items of `user` that precede the rank-th free item are
        # exactly those whose gap key is <= rank.
        query = user * self.num_items + rank
        num_before = torch.searchsorted(self.gap_keys, query, right=True)
        return rank + (num_before - self.rowptr[user])

    def epoch_batches(
        self,
        batch_size: int,
        generator: Optional[torch.Generator] = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> Iterator[TrainBatch]:
        r"""Yields one epoch of :class:`TrainBatch` objects: every training
        interaction exactly once, in a random order, each paired with one
        sampled negative item. The last batch may be smaller.

        With :obj:`world_size > 1` (data-parallel training) every rank draws
        the same epoch (its :obj:`generator` seeded alike) and yields its own
        contiguous :obj:`1 / world_size` of each global batch of
        :obj:`batch_size` triples, which :obj:`world_size` must divide: the
        ranks' shards of a step are disjoint and together form the global
        batch a single process would draw. The last, smaller batch is cut
        to a multiple of :obj:`world_size` (at most :obj:`world_size - 1`
        triples of the epoch, random ones, are left out) so that every rank
        takes a step of the same size.

        Args:
            batch_size (int): The number of interactions per (global)
                batch.
            generator (torch.Generator, optional): The random number
                generator for the order and the negatives.
                (default: :obj:`None`)
            rank (int, optional): This process's rank. (default: :obj:`0`)
            world_size (int, optional): The number of processes.
                (default: :obj:`1`)
        """
        check_int(batch_size, 'batch_size')
        check_world_batch(batch_size, world_size)
        shard_range(batch_size, rank, world_size)  # Checks the rank.
        self._check_generator(generator)
        # Sample the whole epoch at once: a handful of kernels instead of a
        # handful per batch.
        perm = torch.randperm(self.num_edges, generator=generator,
                              device=self.keys.device)
        user, pos_item = self.edge_index[:, perm]
        neg_item = self.sample(user, generator)
        for offset in range(0, self.num_edges, batch_size):
            size = min(batch_size, self.num_edges - offset)
            size -= size % world_size
            if size == 0:
                break
            start, end = shard_range(size, rank, world_size)
            rows = slice(offset + start, offset + end)
            yield TrainBatch(user[rows], pos_item[rows], neg_item[rows])

    def _randint(self, high: int, size: int,
                 generator: Optional[torch.Generator]) -> Tensor:
        return torch.randint(high, (size, ), generator=generator,
                             device=self.keys.device)

    def _check_generator(self, generator: Optional[torch.Generator]) -> None:
        if generator is None:
            return
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"'generator' must be a torch.Generator "
                            f"(got {type(generator).__name__})")
        if generator.device.type != self.keys.device.type:
            raise ValueError(f"'generator' lives on {generator.device} but "
                             f"the sampler on {self.keys.device}")

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_users={self.num_users}, '
                f'num_items={self.num_items}, num_edges={self.num_edges})')
