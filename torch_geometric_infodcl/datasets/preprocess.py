r"""Preprocessing of interaction logs: implicit-feedback threshold,
de-duplication, iterated k-core filtering, id compaction, per-user
train/validation/test splits and the checks applied to pre-split files.

All functions are vectorised NumPy code (no Python loop over users or
interactions) and can be used on their own.  Interactions are ``int64``
arrays; a split is an array ``[N, 2]`` of ``(user, item)`` rows.

**Default per-user split rule** (the rule observed on InfoDCL's Office
files, where it holds for all 4,905 users): a user with ``n`` interactions
gets

* ``n_test  = max(1, round_half_up(test_ratio * n))``
* ``n_valid = max(1, floor(val_ratio * n))``
* ``n_train = n - n_valid - n_test``

with ``val_ratio = test_ratio = 0.1`` (so ``n = 5 -> 3/1/1``, ``15 ->
12/1/2``, ``25 -> 20/2/3``).  A ratio of 0 gives 0 for that part.  Every
user keeps at least one training interaction: for very small ``n`` the
validation count is lowered first, then the test count (``n = 1 -> 1/0/0``,
``n = 2 -> 1/0/1``).
"""
import warnings
from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    'implicit_mask',
    'dedup_mask',
    'kcore_mask',
    'remap_ids',
    'split_counts',
    'split_per_user',
    'carve_validation',
    'clean_splits',
    'sort_pairs',
    'PreprocessResult',
    'preprocess_interactions',
]

_EPS = 1e-9


def implicit_mask(rating: np.ndarray,
                  threshold: Optional[float] = None) -> np.ndarray:
    r"""Keeps interactions with ``rating >= threshold`` (all if
    :obj:`threshold` is :obj:`None`), e.g. ``threshold=4`` turns 1-5 star
    ratings into implicit positives."""
    rating = np.asarray(rating)
    if threshold is None:
        return np.ones(rating.shape[0], dtype=bool)
    return rating >= threshold


def dedup_mask(user: np.ndarray, item: np.ndarray,
               timestamp: Optional[np.ndarray] = None) -> np.ndarray:
    r"""Marks one occurrence of every ``(user, item)`` pair: the earliest by
    :obj:`timestamp` if given (ties: the first in input order), else the
    first in input order."""
    user, item = np.asarray(user), np.asarray(item)
    n = user.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    keys = [np.arange(n)]
    if timestamp is not None:
        keys.append(np.asarray(timestamp))
    keys += [item, user]
    order = np.lexsort(keys)
    u, i = user[order], item[order]
    first = np.ones(n, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    mask = np.zeros(n, dtype=bool)
    mask[order[first]] = True
    return mask


def kcore_mask(user: np.ndarray, item: np.ndarray, user_k: int = 5,
               item_k: Optional[int] = None,
               max_iter: int = 10_000) -> np.ndarray:
    r"""Iterated k-core filter: repeatedly removes interactions of users
    with fewer than :obj:`user_k` and items with fewer than :obj:`item_k`
    (default: :obj:`user_k`) remaining interactions, until a fixed point.

    Ids must be non-negative integers (use :func:`remap_ids` first for
    string ids).  Returns the boolean mask of kept interactions.
    """
    user, item = np.asarray(user), np.asarray(item)
    item_k = user_k if item_k is None else item_k
    mask = np.ones(user.shape[0], dtype=bool)
    if user.shape[0] == 0 or (user_k <= 1 and item_k <= 1):
        return mask
    nu, ni = int(user.max()) + 1, int(item.max()) + 1
    for _ in range(max_iter):
        du = np.bincount(user[mask], minlength=nu)
        di = np.bincount(item[mask], minlength=ni)
        new = mask & (du[user] >= user_k) & (di[item] >= item_k)
        if new.sum() == mask.sum():
            return new
        mask = new
    raise RuntimeError('k-core filtering did not converge')  # pragma: no cover


def remap_ids(ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    r"""Maps arbitrary ids (ints or strings) to ``0..n-1`` in sorted order
    of the original ids.  Returns ``(new_ids int64, originals)`` with
    ``originals[new_ids] == ids``."""
    ids = np.asarray(ids)
    if ids.dtype == object:
        ids = ids.astype(str)
    uniq, inv = np.unique(ids, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), uniq


def split_counts(n: np.ndarray, val_ratio: float = 0.1,
                 test_ratio: float = 0.1
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Per-user ``(n_train, n_valid, n_test)`` for per-user totals
    :obj:`n`, following the default split rule of this module."""
    n = np.asarray(n, dtype=np.int64)
    for name, r in (('val_ratio', val_ratio), ('test_ratio', test_ratio)):
        if not 0 <= r < 1:
            raise ValueError(f'{name} must be in [0, 1) (got {r})')
    if val_ratio + test_ratio >= 1:
        raise ValueError(f'val_ratio + test_ratio must be < 1 (got '
                         f'{val_ratio} + {test_ratio})')
    n_test = np.floor(test_ratio * n + 0.5 + _EPS).astype(np.int64)
    n_val = np.floor(val_ratio * n + _EPS).astype(np.int64)
    if test_ratio > 0:
        n_test = np.maximum(n_test, 1)
    if val_ratio > 0:
        n_val = np.maximum(n_val, 1)
    # Keep at least one training interaction (lower validation first):
    room = np.maximum(n - 1, 0)
    n_test = np.minimum(n_test, room)
    n_val = np.minimum(n_val, room - n_test)
    n_train = n - n_val - n_test
    return n_train, n_val, n_test


def _sortable_key(pairs: np.ndarray) -> Optional[np.ndarray]:
    r"""``user * (max_item + 1) + item`` if that fits in ``int64``."""
    if pairs.shape[0] == 0:
        return pairs[:, 0]
    lo = pairs.min(axis=0)
    if lo.min() < 0:
        return None
    hi = pairs.max(axis=0).astype(object)
    if (hi[0] + 1) * (hi[1] + 1) >= 2**62:
        return None
    return pairs[:, 0] * (pairs[:, 1].max() + 1) + pairs[:, 1]


def sort_pairs(pairs: np.ndarray) -> np.ndarray:
    r"""Sorts ``[N, 2]`` pairs by user, then item (stable)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    key = _sortable_key(pairs)
    if key is None:
        return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    if key.size < 2 or bool((key[1:] >= key[:-1]).all()):
        return pairs
    return pairs[np.argsort(key, kind='stable')]


def _group_rank(sorted_users: np.ndarray) -> np.ndarray:
    r"""0-based rank of each row within its (contiguous) user group."""
    n = sorted_users.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = sorted_users[1:] != sorted_users[:-1]
    starts = np.flatnonzero(new)
    group_start = np.repeat(starts, np.diff(np.append(starts, n)))
    return np.arange(n) - group_start


def split_per_user(
    user: np.ndarray,
    item: np.ndarray,
    timestamp: Optional[np.ndarray] = None,
    method: str = 'random',
    val_ratio: float = 0.1,
    test_ratio: float = 0.1,
    seed: int = 0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Splits every user's interactions into train / validation / test.

    Counts follow the rule in the module docstring.  ``method='random'``
    shuffles each user's interactions with :obj:`seed`;
    ``method='temporal'`` (needs :obj:`timestamp`) puts the latest
    interactions in test, the ones before them in validation and the
    earliest in train (ties broken by item id).

    Returns:
        ``(train, valid, test)``, each ``int64 [N, 2]`` sorted by user, item.
    """
    user = np.asarray(user, dtype=np.int64)
    item = np.asarray(item, dtype=np.int64)
    if method == 'random':
        pre = np.random.default_rng(seed).permutation(user.shape[0])
    elif method == 'temporal':
        if timestamp is None:
            raise ValueError("method='temporal' needs timestamps")
        # Latest last; ties: larger item ids later (deterministic).
        pre = np.lexsort((item, np.asarray(timestamp)))
    else:
        raise ValueError(f"method must be 'random' or 'temporal' "
                         f"(got {method!r})")
    # Group by user, keeping the random / chronological order inside:
    order = pre[np.argsort(user[pre], kind='stable')]
    u, i = user[order], item[order]
    rank = _group_rank(u)
    if u.size:
        counts = np.bincount(u)
        n_train, n_val, _ = split_counts(counts, val_ratio, test_ratio)
        part = np.where(rank < n_train[u], 0,
                        np.where(rank < n_train[u] + n_val[u], 1, 2))
    else:
        part = np.zeros(0, dtype=np.int64)
    pairs = np.stack([u, i], axis=1)
    return tuple(sort_pairs(pairs[part == k]) for k in range(3))


def carve_validation(pairs: np.ndarray, val_ratio: float = 0.1,
                     seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    r"""Carves a per-user validation set out of training pairs (for sources
    that ship train/test only): each user with ``n >= 2`` training
    interactions moves ``max(1, floor(val_ratio * n))`` random ones (seeded)
    to validation; users with a single one keep it.  Returns
    ``(train, valid)`` sorted by user, item."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    train, val, _ = split_per_user(pairs[:, 0], pairs[:, 1],
                                   val_ratio=val_ratio, test_ratio=0.0,
                                   seed=seed)
    return train, val


def _pair_keys(pairs: np.ndarray, num_items: int) -> np.ndarray:
    return pairs[:, 0] * np.int64(num_items) + pairs[:, 1]


def _in_sorted(keys: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    r"""``np.isin(keys, sorted_ref)`` for a sorted reference."""
    if sorted_ref.size == 0 or keys.size == 0:
        return np.zeros(keys.shape[0], dtype=bool)
    pos = np.searchsorted(sorted_ref, keys)
    pos[pos == sorted_ref.size] = 0
    return sorted_ref[pos] == keys


def clean_splits(
    splits: Dict[str, np.ndarray],
    num_users: int,
    num_items: int,
    on_overlap: str = 'drop',
    source: str = 'dataset',
    files: Optional[Dict[str, str]] = None,
) -> Dict[str, np.ndarray]:
    r"""Validates and normalises pre-made ``train`` / ``val`` / ``test``
    splits.

    * ids ``>= num_users`` / ``>= num_items`` raise a :class:`ValueError`;
    * duplicate pairs inside a split are dropped (one
      :func:`warnings.warn` with the count);
    * pairs occurring in more than one split are handled by
      :obj:`on_overlap`: ``'drop'`` (default) keeps evaluation data intact
      and removes the pair from the *earlier* split (test wins over
      validation, validation over train) with a warning; ``'error'``
      raises; ``'keep'`` leaves them (with a warning);
    * users that have validation / test interactions but no training
      interaction are kept (cold-start users) and counted in a warning;
    * every split is sorted by user, then item.
    """
    if on_overlap not in ('drop', 'error', 'keep'):
        raise ValueError(f"on_overlap must be 'drop', 'error' or 'keep' "
                         f"(got {on_overlap!r})")
    files = files or {}
    out: Dict[str, np.ndarray] = {}
    for name in ('train', 'val', 'test'):
        pairs = np.asarray(splits[name], dtype=np.int64).reshape(-1, 2)
        where = f"{source} {name} split" + (f" ('{files[name]}')"
                                            if name in files else '')
        if pairs.size:
            for col, kind, count in ((0, 'user', num_users),
                                     (1, 'item', num_items)):
                bad = pairs[:, col] >= count
                if bad.any():
                    raise ValueError(
                        f'{where}: {kind} id {int(pairs[bad, col].max())} is '
                        f'out of range for {count} {kind}s ({int(bad.sum())} '
                        f'interactions with {kind} id >= {count}); pass '
                        f'num_{kind}s=... if the declared count is wrong')
            if (pairs < 0).any():
                raise ValueError(f'{where}: negative ids')
        pairs = sort_pairs(pairs)
        if pairs.shape[0] > 1:
            dup = np.zeros(pairs.shape[0], dtype=bool)
            dup[1:] = (pairs[1:] == pairs[:-1]).all(axis=1)
            if dup.any():
                warnings.warn(f'{where}: dropped {int(dup.sum())} duplicate '
                              f'interaction(s)', stacklevel=3)
                pairs = pairs[~dup]
        out[name] = pairs

    keys = {k: _pair_keys(v, num_items) for k, v in out.items()}
    for later, earlier in (('test', 'val'), ('test', 'train'),
                           ('val', 'train')):
        hit = _in_sorted(keys[earlier], keys[later])  # splits are sorted
        n = int(hit.sum())
        if n == 0:
            continue
        msg = (f'{source}: {n} interaction(s) appear in both the {earlier} '
               f'and the {later} split')
        if on_overlap == 'error':
            raise ValueError(msg + " (on_overlap='error')")
        if on_overlap == 'keep':
            warnings.warn(msg + " (kept, on_overlap='keep')", stacklevel=3)
            continue
        warnings.warn(msg + f'; dropped them from {earlier} '
                      "(on_overlap='drop')", stacklevel=3)
        out[earlier] = out[earlier][~hit]
        keys[earlier] = keys[earlier][~hit]

    has_train = np.zeros(num_users, dtype=bool)
    has_train[out['train'][:, 0]] = True
    for name in ('val', 'test'):
        users = np.unique(out[name][:, 0])
        cold = users[~has_train[users]]
        if cold.size:
            warnings.warn(
                f'{source}: {cold.size} user(s) in the {name} split have no '
                f'training interaction (kept; they are cold-start users for '
                f'evaluation)', stacklevel=3)
    return out


class PreprocessResult(NamedTuple):
    r"""Output of :func:`preprocess_interactions`."""
    train: np.ndarray  #: ``int64 [N, 2]``
    val: np.ndarray  #: ``int64 [N, 2]``
    test: np.ndarray  #: ``int64 [N, 2]``
    num_users: int
    num_items: int
    user_ids: np.ndarray  #: original id of every new user id
    item_ids: np.ndarray  #: original id of every new item id
    stats: Dict[str, int]


def _kcore_pair(k: Union[int, Sequence[int], None]) -> Tuple[int, int]:
    if k is None:
        return 0, 0
    if isinstance(k, (int, np.integer)):
        return int(k), int(k)
    user_k, item_k = k
    return int(user_k), int(item_k)


def preprocess_interactions(
    user: np.ndarray,
    item: np.ndarray,
    rating: Optional[np.ndarray] = None,
    timestamp: Optional[np.ndarray] = None,
    *,
    implicit_threshold: Optional[float] = None,
    k_core: Union[int, Tuple[int, int], None] = 5,
    split: str = 'random',
    val_ratio: float = 0.1,
    test_ratio: float = 0.1,
    seed: int = 0,
) -> PreprocessResult:
    r"""The raw-log pipeline: implicit threshold -> de-duplication (earliest
    occurrence kept) -> iterated k-core -> compact ids (sorted original
    ids) -> per-user split.

    Args:
        user, item: Original ids (ints or strings), shape ``[N]``.
        rating (optional): Ratings for :obj:`implicit_threshold`.
        timestamp (optional): Times, for de-duplication and the temporal
            split.
        implicit_threshold (float, optional): Keep ``rating >= threshold``.
        k_core (int or (int, int), optional): Minimum user / item degree
            (``0`` or :obj:`None` disables).  (default: ``5``)
        split (str): ``'random'`` or ``'temporal'``.  (default: ``'random'``)
        val_ratio, test_ratio (float): See the split rule.
        seed (int): Seed of the random split.
    """
    user, item = np.asarray(user), np.asarray(item)
    if user.shape != item.shape or user.ndim != 1:
        raise ValueError('user and item must be 1-D arrays of equal length')
    stats = {'raw': int(user.shape[0])}
    keep = np.ones(user.shape[0], dtype=bool)
    if implicit_threshold is not None:
        if rating is None:
            raise ValueError('implicit_threshold needs ratings')
        keep &= implicit_mask(rating, implicit_threshold)
    stats['after_threshold'] = int(keep.sum())
    sel = np.flatnonzero(keep)
    u0, uniq_u = remap_ids(user[sel])
    i0, uniq_i = remap_ids(item[sel])
    ts = None if timestamp is None else np.asarray(timestamp)[sel]
    first = dedup_mask(u0, i0, ts)
    stats['duplicates'] = int((~first).sum())
    u0, i0 = u0[first], i0[first]
    ts = None if ts is None else ts[first]
    user_k, item_k = _kcore_pair(k_core)
    core = kcore_mask(u0, i0, user_k, item_k)
    u0, i0 = u0[core], i0[core]
    ts = None if ts is None else ts[core]
    stats['after_kcore'] = int(u0.shape[0])
    u1, ku = remap_ids(u0)
    i1, ki = remap_ids(i0)
    train, val, test = split_per_user(u1, i1, ts, method=split,
                                      val_ratio=val_ratio,
                                      test_ratio=test_ratio, seed=seed)
    return PreprocessResult(train, val, test, int(ku.shape[0]),
                            int(ki.shape[0]), uniq_u[ku], uniq_i[ki], stats)
