r"""A planted-preference generator of implicit-feedback data with side
features whose informativeness is controlled.

Model (all draws from one ``numpy`` generator seeded by ``seed``):

* user and item factors ``P [U, d]``, ``Q [I, d]`` with i.i.d. ``N(0, 1)``
  entries (the *planted* factors);
* item popularity: a random permutation of the ranks ``1..I`` and weights
  ``w_i = rank_i ** -popularity_exponent`` (Zipf);
* user activity: ``deg_u = clip(round(avg_degree * a_u), 3, I // 2)`` with
  ``a_u`` log-normal (sigma ``0.5``) normalised to mean 1;
* user ``u`` interacts with ``deg_u`` distinct items drawn *without
  replacement* with probabilities proportional to
  ``w_i * exp(preference_strength * <P_u, Q_i> / sqrt(d))`` -- done for all
  users at once with the Gumbel-top-k trick (top ``deg_u`` of
  ``logits + Gumbel noise``; processed in blocks of users, no Python loop
  over users);
* item features ``x_i = sqrt(s) * z(Q_i W) + sqrt(1 - s) * e_i`` with
  ``s = feature_informativeness``, ``W [d, feature_dim]`` a random matrix
  with orthonormal rows, ``z`` per-column standardisation and ``e`` i.i.d.
  ``N(0, 1)`` noise: ``s`` is the fraction of every feature's variance
  explained by the planted factors (``s = 1``: ``Q`` is an exact linear
  function of ``x`` when ``feature_dim >= latent_dim``; ``s = 0``: pure
  noise).  User features are built the same way from ``P``;
* the interactions are split per user with
  :func:`~torch_geometric_infodcl.datasets.preprocess.split_per_user` (random,
  the module's default rule).

The default size (2,000 users, 1,000 items, ~50k interactions) generates in
well under a second.  :class:`Synthetic` serves it as a cached dataset.
"""
import inspect
import math
from typing import Any, ClassVar, Dict, Optional

import numpy as np
import torch
from torch_geometric.data import HeteroData

from torch_geometric_infodcl.datasets.base import InteractionDataset
from torch_geometric_infodcl.datasets.preprocess import split_per_user
from torch_geometric_infodcl.typing import EDGE_TYPE

__all__ = ['generate_synthetic', 'Synthetic']


def _orthonormal_rows(rng: np.random.Generator, d: int, f: int) -> np.ndarray:
    g = rng.standard_normal((max(d, f), min(d, f)))
    q, _ = np.linalg.qr(g)  # [max, min], orthonormal columns
    return q.T if d <= f else q  # [d, f]


def _features(rng: np.random.Generator, factors: np.ndarray, dim: int,
              informativeness: float) -> np.ndarray:
    n, d = factors.shape
    w = _orthonormal_rows(rng, d, dim)
    signal = factors @ w
    signal = (signal - signal.mean(0)) / (signal.std(0) + 1e-12)
    noise = rng.standard_normal((n, dim))
    s = float(informativeness)
    return (math.sqrt(s) * signal + math.sqrt(1.0 - s) * noise).astype(
        np.float32)


def _tensor(pairs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pairs.T)).to(torch.long)


def generate_synthetic(
    num_users: int = 2000,
    num_items: int = 1000,
    latent_dim: int = 16,
    avg_degree: float = 25,
    popularity_exponent: float = 1.0,
    feature_dim: int = 32,
    feature_informativeness: float = 0.5,
    seed: int = 0,
    *,
    preference_strength: float = 2.0,
    user_feature_informativeness: Optional[float] = None,
    val_ratio: float = 0.1,
    test_ratio: float = 0.1,
) -> HeteroData:
    r"""Generates a synthetic recommendation dataset (see the module
    docstring for the model).

    Args:
        num_users (int): Number of users.  (default: ``2000``)
        num_items (int): Number of items.  (default: ``1000``)
        latent_dim (int): Dimension ``d`` of the planted factors.
            (default: ``16``)
        avg_degree (float): Mean interactions per user.  (default: ``25``)
        popularity_exponent (float): Zipf exponent of item popularity
            (``0`` = uniform).  (default: ``1.0``)
        feature_dim (int): Side-feature dimension (``0`` = no features).
            (default: ``32``)
        feature_informativeness (float): Fraction in ``[0, 1]`` of the item
            features' variance explained by the planted item factors.
            (default: ``0.5``)
        seed (int): Seed; the output is a deterministic function of all
            arguments.  (default: ``0``)
        preference_strength (float): Scale of the preference logits
            relative to popularity (``0`` = popularity only).
            (default: ``2.0``)
        user_feature_informativeness (float, optional): Same for user
            features.  (default: :obj:`feature_informativeness`)
        val_ratio, test_ratio (float): Per-user split ratios.
            (default: ``0.1``, ``0.1``)

    Returns:
        :class:`~torch_geometric.data.HeteroData` with ``'user'`` / ``'item'``
        nodes (``num_nodes``, ``x`` features, ``planted`` factors
        ``[n, latent_dim]``; items also ``popularity``, the planted
        popularity weights summing to 1) and ``('user', 'interacts',
        'item')`` ``edge_index`` / ``val_edge_index`` / ``test_edge_index``.
    """
    if num_users < 1 or num_items < 2 or latent_dim < 1:
        raise ValueError(
            'need num_users >= 1, num_items >= 2, latent_dim >= 1')
    for name, v in (('feature_informativeness', feature_informativeness),
                    ('user_feature_informativeness',
                     user_feature_informativeness)):
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError(f'{name} must be in [0, 1] (got {v})')
    if avg_degree <= 0:
        raise ValueError(f'avg_degree must be positive (got {avg_degree})')
    if user_feature_informativeness is None:
        user_feature_informativeness = feature_informativeness

    rng = np.random.default_rng(seed)
    P = rng.standard_normal((num_users, latent_dim))
    Q = rng.standard_normal((num_items, latent_dim))
    ranks = rng.permutation(num_items) + 1.0
    popularity = ranks**(-float(popularity_exponent))
    popularity /= popularity.sum()
    log_pop = np.log(popularity)

    activity = rng.lognormal(0.0, 0.5, size=num_users)
    activity /= activity.mean()
    max_deg = max(1, num_items // 2)
    degree = np.clip(np.rint(avg_degree * activity), min(3, max_deg),
                     max_deg).astype(np.int64)

    # Gumbel-top-k: sampling without replacement, proportional to
    # exp(logits), for a block of users at a time.
    scale = preference_strength / math.sqrt(latent_dim)
    block = max(1, (1 << 22) // num_items)
    users, items = [], []
    for start in range(0, num_users, block):
        stop = min(start + block, num_users)
        logits = scale * (P[start:stop] @ Q.T) + log_pop
        logits += rng.gumbel(size=logits.shape)
        deg = degree[start:stop]
        kmax = int(deg.max())
        top = np.argpartition(-logits, kmax - 1, axis=1)[:, :kmax]
        top_val = np.take_along_axis(logits, top, axis=1)
        top = np.take_along_axis(top, np.argsort(-top_val, axis=1), axis=1)
        keep = np.arange(kmax)[None, :] < deg[:, None]
        rows = np.broadcast_to(np.arange(start, stop)[:, None], top.shape)
        users.append(rows[keep])
        items.append(top[keep])
    user = np.concatenate(users).astype(np.int64)
    item = np.concatenate(items).astype(np.int64)

    split_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    train, val, test = split_per_user(user, item, val_ratio=val_ratio,
                                      test_ratio=test_ratio, seed=split_seed)

    data = HeteroData()
    data['user'].num_nodes = num_users
    data['item'].num_nodes = num_items
    data['user'].planted = torch.from_numpy(P.astype(np.float32))
    data['item'].planted = torch.from_numpy(Q.astype(np.float32))
    data['item'].popularity = torch.from_numpy(popularity.astype(np.float32))
    if feature_dim > 0:
        data['item'].x = torch.from_numpy(
            _features(rng, Q, feature_dim, feature_informativeness))
        data['user'].x = torch.from_numpy(
            _features(rng, P, feature_dim, user_feature_informativeness))
    store = data[EDGE_TYPE]
    store.edge_index = _tensor(train)
    store.val_edge_index = _tensor(val)
    store.test_edge_index = _tensor(test)
    return data


class Synthetic(InteractionDataset):
    r"""The planted-preference data of :func:`generate_synthetic` as a
    dataset cached under ``root/synthetic/processed`` (no files needed).

    **STATS** (default options):

    .. list-table::
        :widths: 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #interactions
        * - 2,000
          - 1,000
          - about 50,000

    Args:
        root (str): Root directory.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: The arguments of :func:`generate_synthetic`.
    """
    name = 'synthetic'
    options_defaults: ClassVar[Dict[str, Any]] = {
        key: p.default
        for key, p in inspect.signature(generate_synthetic).parameters.items()
    }

    def build(self) -> HeteroData:
        return generate_synthetic(**self.options)
