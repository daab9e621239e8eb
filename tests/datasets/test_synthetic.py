
import numpy as np
import pytest
import torch

from torch_geometric_infodcl.datasets.synthetic import (
    EDGE_TYPE,
    generate_synthetic,
)


def probe_r2(x, y, seed=0):
    r"""Held-out R^2 of a least-squares linear probe x -> y."""
    x, y = x.double().numpy(), y.double().numpy()
    n = x.shape[0]
    perm = np.random.default_rng(seed).permutation(n)
    tr, te = perm[:n // 2], perm[n // 2:]
    X = np.hstack([x, np.ones((n, 1))])
    w, *_ = np.linalg.lstsq(X[tr], y[tr], rcond=None)
    resid = y[te] - X[te] @ w
    return 1 - (resid**2).sum() / ((y[te] - y[te].mean(0))**2).sum()


def all_edges(data):
    s = data[EDGE_TYPE]
    return torch.cat([s.edge_index, s.val_edge_index, s.test_edge_index], 1)


def test_structure_and_splits():
    data = generate_synthetic()
    assert data['user'].num_nodes == 2000 and data['item'].num_nodes == 1000
    assert data['item'].x.shape == (1000, 32)
    assert data['user'].x.shape == (2000, 32)
    assert data['item'].planted.shape == (1000, 16)
    s = data[EDGE_TYPE]
    keys = []
    for name in ('edge_index', 'val_edge_index', 'test_edge_index'):
        ei = s[name]
        assert ei.dtype == torch.long and ei.dim() == 2 and ei.size(0) == 2
        key = ei[0] * 1000 + ei[1]
        assert (key[1:] > key[:-1]).all()  # sorted by user, item; no dups
        keys.append(key)
    k = torch.cat(keys)
    assert k.unique().numel() == k.numel()  # splits are disjoint
    e = all_edges(data)
    assert abs(e.size(1) / 2000 - 25) < 2.5  # avg_degree
    # Every user has >= 1 train, valid and test interaction (degree >= 3):
    for name in ('edge_index', 'val_edge_index', 'test_edge_index'):
        assert torch.bincount(s[name][0], minlength=2000).min() >= 1


def test_deterministic():
    a, b = generate_synthetic(seed=7), generate_synthetic(seed=7)
    for store_a, store_b in zip(a.stores, b.stores):
        for key, value in store_a.items():
            if torch.is_tensor(value):
                assert torch.equal(value, store_b[key]), key
    c = generate_synthetic(seed=8)
    assert not torch.equal(a['item'].x, c['item'].x)
    assert not torch.equal(all_edges(a)[:, :1000], all_edges(c)[:, :1000])


@pytest.mark.parametrize('kind', ['item', 'user'])
def test_feature_informativeness(kind):
    r2 = {}
    for s in (0.0, 0.5, 1.0):
        data = generate_synthetic(num_users=1000, num_items=1000,
                                  feature_informativeness=s, seed=1)
        r2[s] = probe_r2(data[kind].x, data[kind].planted)
    assert r2[1.0] > 0.999  # planted factors are linear in the features
    assert r2[0.0] < 0.05  # pure noise predicts nothing held-out
    assert 0.25 < r2[0.5] < 0.75
    # Correlation view: the features' best linear correlation with the
    # factors grows with informativeness.
    assert r2[0.0] < r2[0.5] < r2[1.0]


def test_user_feature_informativeness_separately():
    data = generate_synthetic(feature_informativeness=1.0,
                              user_feature_informativeness=0.0)
    assert probe_r2(data['item'].x, data['item'].planted) > 0.99
    assert probe_r2(data['user'].x, data['user'].planted) < 0.05


def test_popularity_power_law():
    data = generate_synthetic()
    deg = torch.bincount(all_edges(data)[1], minlength=1000).double().numpy()
    deg_sorted = np.sort(deg)[::-1]
    share = deg_sorted[:100].sum() / deg_sorted.sum()
    assert share > 0.3  # top 10% of items hold > 30% of interactions
    r = np.arange(1, 1001)
    m = (r >= 10) & (r <= 500)
    slope = np.polyfit(np.log(r[m]), np.log(deg_sorted[m] + 1), 1)[0]
    assert -2.0 < slope < -0.4  # roughly linear decay on log-log axes
    # Degree follows the planted popularity:
    pop = data['item'].popularity.numpy()
    assert np.corrcoef(np.log(pop), np.log(deg + 1))[0, 1] > 0.7
    flat = generate_synthetic(popularity_exponent=0.0)
    deg0 = np.sort(torch.bincount(all_edges(flat)[1], minlength=1000).numpy())
    assert deg0[::-1][:100].sum() / deg0.sum() < share - 0.1


def test_preferences_are_planted():
    data = generate_synthetic(num_users=500, num_items=400,
                              popularity_exponent=0.0, seed=2)
    e = all_edges(data)
    P, Q = data['user'].planted, data['item'].planted
    pos = (P[e[0]] * Q[e[1]]).sum(-1).mean()
    rnd = (P[e[0]] * Q[torch.randint(0, 400, (e.size(1), ))]).sum(-1).mean()
    assert pos > rnd + 1.0


def test_invalid_arguments():
    with pytest.raises(ValueError, match='feature_informativeness'):
        generate_synthetic(feature_informativeness=1.5)
    with pytest.raises(ValueError, match='avg_degree'):
        generate_synthetic(avg_degree=0)
    assert 'x' not in generate_synthetic(num_users=10, num_items=20,
                                         feature_dim=0)['item']
