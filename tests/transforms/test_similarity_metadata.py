import os.path as osp

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from torch_geometric.data import HeteroData
from torch_geometric_infodcl.transforms import (
    SimilarityMetadata,
    feature_metadata,
    jaccard_similarity,
    knowledge_metadata,
    lightgcn_base,
    social_metadata,
    svd_base,
)
from torch_geometric_infodcl.typing import EDGE_TYPE


# Brute-force references (explicit loops over small graphs) ###################


def neighbour_sets(edge_index, num_users, num_items):
    users = [set() for _ in range(num_users)]
    items = [set() for _ in range(num_items)]
    for u, i in edge_index.t().tolist():
        users[u].add(i)
        items[i].add(u)
    return users, items


def brute_jaccard(sets):
    n = len(sets)
    out = np.zeros((n, n), dtype=np.float32)
    for a in range(n):
        for b in range(n):
            if a != b:
                inter = np.float32(len(sets[a] & sets[b]))
                union = np.float32(len(sets[a] | sets[b]))
                out[a, b] = inter / (union + np.float32(1e-8))
    return out


def brute_social(edge_index, num_users, num_items, user_base, item_base):
    users, items = neighbour_sets(edge_index, num_users, num_items)
    sim = brute_jaccard(users).astype(np.float64)
    p, q = user_base.double().numpy(), item_base.double().numpy()
    smoothed = p.copy()
    for u in range(num_users):
        total = sim[u].sum()
        if total > 0:
            smoothed[u] = 0.5 * (p[u] + (sim[u] @ p) / total)
    out = q.copy()
    for i in range(num_items):
        if items[i]:
            out[i] = np.mean([smoothed[u] for u in sorted(items[i])], axis=0)
    return out


def brute_topk_mean(sim, base, k):
    r"""Mean base row over the k largest positive entries per row; ties go
    to the lower column (a stable sort on the negated similarity)."""
    out = base.copy()
    for i in range(sim.shape[0]):
        order = np.argsort(-sim[i], kind='stable')
        chosen = [j for j in order[:k] if sim[i, j] > 0]
        if chosen:
            out[i] = base[chosen].mean(axis=0)
    return out


def random_graph(num_users, num_items, num_edges, seed):
    gen = torch.Generator().manual_seed(seed)
    user = torch.randint(num_users, (num_edges, ), generator=gen)
    item = torch.randint(num_items, (num_edges, ), generator=gen)
    return torch.stack([user, item])


def hetero(edge_index, num_users, num_items, x=None):
    data = HeteroData()
    data['user'].num_nodes = num_users
    data['item'].num_nodes = num_items
    data[EDGE_TYPE].edge_index = edge_index
    if x is not None:
        data['item'].x = x
    return data


@pytest.fixture
def tiny():
    # users 0..5, items 0..6; user 5 and item 6 have no interactions; the
    # pair (0, 1) is duplicated.
    edge_index = torch.tensor([
        [0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 0],
        [0, 1, 2, 1, 2, 0, 3, 3, 4, 5, 5, 1],
    ])
    gen = torch.Generator().manual_seed(0)
    return dict(edge_index=edge_index, num_users=6, num_items=7,
                user_base=torch.randn(6, 4, generator=gen),
                item_base=torch.randn(7, 4, generator=gen))


# Jaccard #####################################################################


def test_jaccard_hand_computed():
    # N(i0) = {u0, u2}, N(i1) = {u0, u1}, N(i2) = {u1}.
    edge_index = torch.tensor([[0, 0, 1, 1, 2], [0, 1, 1, 2, 0]])
    sim = jaccard_similarity(edge_index, 3, 3, side='item').to_dense()
    expected = torch.tensor([[0., 1 / 3, 0.], [1 / 3, 0., 1 / 2],
                             [0., 1 / 2, 0.]])
    assert torch.allclose(sim, expected)
    # N(u0) = {i0, i1}, N(u1) = {i1, i2}, N(u2) = {i0}.
    sim = jaccard_similarity(edge_index, 3, 3, side='user').to_dense()
    expected = torch.tensor([[0., 1 / 3, 1 / 2], [1 / 3, 0., 0.],
                             [1 / 2, 0., 0.]])
    assert torch.allclose(sim, expected)


@pytest.mark.parametrize('side', ['user', 'item'])
@pytest.mark.parametrize('chunk_size', [1, 3, 1024])
def test_jaccard_matches_brute_force(side, chunk_size):
    edge_index = random_graph(13, 11, 60, seed=1)
    users, items = neighbour_sets(edge_index, 13, 11)
    expected = brute_jaccard(users if side == 'user' else items)
    sim = jaccard_similarity(edge_index, 13, 11, side=side,
                             chunk_size=chunk_size)
    assert sim.is_sparse and sim.dtype == torch.float32
    assert np.array_equal(sim.to_dense().numpy(), expected)
    assert sim._nnz() == int((expected > 0).sum())  # only co-occurrences


def test_jaccard_bad_side():
    with pytest.raises(ValueError, match="'side' must be 'user' or 'item'"):
        jaccard_similarity(torch.tensor([[0], [0]]), 1, 1, side='items')


# Social / knowledge / feature metadata #######################################


@pytest.mark.parametrize('chunk_size', [1, 4, 1024])
def test_social_matches_brute_force(tiny, chunk_size):
    out = social_metadata(**tiny, chunk_size=chunk_size)
    expected = brute_social(**tiny)
    assert out.dtype == torch.float32 and out.shape == (7, 4)
    assert np.allclose(out.numpy(), expected, atol=1e-6)
    # Item 6 has no training users: falls back to its base embedding.
    assert torch.equal(out[6], tiny['item_base'][6])


def test_social_fallback_without_similar_users():
    # User 1 shares no item with anyone: its smoothed embedding is p_1, so
    # item 1 (only user 1) gets exactly p_1. Item 0 averages the two
    # smoothed users 0 and 2, which are each other's only neighbour.
    edge_index = torch.tensor([[0, 2, 1], [0, 0, 1]])
    user_base = torch.tensor([[1., 0.], [0., 3.], [5., 2.]])
    item_base = torch.tensor([[9., 9.], [8., 8.]])
    out = social_metadata(edge_index, 3, 2, user_base, item_base)
    p0 = 0.5 * (user_base[0] + user_base[2])
    p2 = 0.5 * (user_base[2] + user_base[0])
    assert torch.allclose(out[0], 0.5 * (p0 + p2))
    assert torch.equal(out[1], user_base[1])


@pytest.mark.parametrize('top_k', [1, 2, 3, 20])
@pytest.mark.parametrize('chunk_size', [2, 1024])
def test_knowledge_matches_brute_force(top_k, chunk_size):
    edge_index = random_graph(9, 15, 45, seed=2)
    _, items = neighbour_sets(edge_index, 9, 15)
    sim = brute_jaccard(items)
    base = torch.randn(15, 5, generator=torch.Generator().manual_seed(3))
    expected = brute_topk_mean(sim, base.double().numpy(), top_k)
    out = knowledge_metadata(edge_index, 9, 15, base, top_k=top_k,
                             chunk_size=chunk_size)
    assert np.allclose(out.numpy(), expected, atol=1e-6)


def test_knowledge_ties_go_to_lower_item_id():
    # Items 1, 2, 3 each share user 0 with item 0 and have the same Jaccard
    # similarity 1/2 to it; with top_k=2 items 1 and 2 must win.
    edge_index = torch.tensor([[0, 0, 0, 0], [0, 3, 2, 1]])
    base = torch.tensor([[0.], [1.], [10.], [100.]])
    out = knowledge_metadata(edge_index, 1, 4, base, top_k=2)
    assert out[0, 0] == pytest.approx(5.5)
    # Item 3 ties with items 0, 1, 2 -> items 0 and 1.
    assert out[3, 0] == pytest.approx(0.5)


def test_knowledge_fallback_for_isolated_item(tiny):
    out = knowledge_metadata(tiny['edge_index'], 6, 7, tiny['item_base'])
    assert torch.equal(out[6], tiny['item_base'][6])


def test_feature_metadata_matches_brute_force():
    gen = torch.Generator().manual_seed(4)
    # Binary genre-like features with many exact ties, and one zero row.
    x = (torch.rand(12, 3, generator=gen) > 0.5).float()
    x[5] = 0.
    base = torch.randn(12, 4, generator=gen)
    xn = x.numpy() / np.maximum(np.linalg.norm(x.numpy(), axis=1), 1e-12)[:,
                                                                          None]
    cos = (xn @ xn.T).astype(np.float32)
    np.fill_diagonal(cos, 0.)
    expected = brute_topk_mean(cos, base.double().numpy(), 3)
    out = feature_metadata(x, base, top_k=3, chunk_size=5)
    assert np.allclose(out.numpy(), expected, atol=1e-6)
    assert torch.equal(out[5], base[5])  # no positive similarity


# Base embeddings #############################################################


def normalised_dense(edge_index, num_users, num_items):
    users, items = neighbour_sets(edge_index, num_users, num_items)
    dense = np.zeros((num_users, num_items))
    for u, its in enumerate(users):
        for i in its:
            dense[u, i] = 1 / np.sqrt(len(its) * len(items[i]))
    return dense


@pytest.mark.parametrize('dim,atol', [(10, 1e-5), (5, 2e-3)])
def test_svd_base_is_truncated_normalised_svd(dim, atol):
    # dim=10 oversamples to all 20 columns (exact); dim=5 is randomised.
    edge_index = random_graph(30, 20, 120, seed=5)
    left, sigma, right = np.linalg.svd(normalised_dense(edge_index, 30, 20))
    expected = (left[:, :dim] * sigma[:dim]) @ right[:dim]
    user_base, item_base = svd_base(edge_index, 30, 20, dim=dim)
    assert user_base.shape == (30, dim) and item_base.shape == (20, dim)
    assert user_base.dtype == torch.float32
    assert np.allclose((user_base @ item_base.t()).numpy(), expected,
                       atol=atol)
    # sqrt(sigma) scaling on both sides.
    norms = user_base.norm(dim=0) * item_base.norm(dim=0)
    assert np.allclose(norms.numpy(), sigma[:dim], atol=atol)
    # Sign convention: the largest-magnitude item entry is positive.
    peak = item_base.abs().argmax(dim=0)
    assert bool((item_base[peak, torch.arange(dim)] > 0).all())
    again = svd_base(edge_index, 30, 20, dim=dim)
    assert torch.equal(user_base, again[0])
    assert torch.equal(item_base, again[1])


def test_svd_base_bad_dim():
    edge_index = random_graph(5, 4, 10, seed=6)
    with pytest.raises(ValueError, match=r"'dim' must be in \[1, min"):
        svd_base(edge_index, 5, 4, dim=5)


def test_lightgcn_base_learns_planted_communities():
    # Users 0-9 interact only with items 0-9, users 10-19 only with 10-19.
    gen = torch.Generator().manual_seed(7)
    user = torch.arange(20).repeat_interleave(5)
    item = torch.randint(10, (100, ), generator=gen) + 10 * (user >= 10)
    edge_index = torch.stack([user, item])
    user_base, item_base = lightgcn_base(edge_index, 20, 20, dim=8,
                                         epochs=10, batch_size=32, lr=0.05,
                                         seed=1)
    assert user_base.shape == (20, 8) and item_base.shape == (20, 8)
    scores = user_base @ item_base.t()
    same = torch.zeros(20, 20, dtype=torch.bool)
    same[:10, :10] = same[10:, 10:] = True
    # Untrained (epochs=0) the two means are within 0.01 of each other.
    assert scores[same].mean() > scores[~same].mean() + 1.0
    again = lightgcn_base(edge_index, 20, 20, dim=8, epochs=10,
                          batch_size=32, lr=0.05, seed=1)
    assert torch.equal(user_base, again[0])
    other = lightgcn_base(edge_index, 20, 20, dim=8, epochs=1, seed=2)
    assert not torch.equal(user_base, other[0])


# Transform ###################################################################


def test_transform_with_given_base(tiny):
    data = hetero(tiny['edge_index'], 6, 7, x=torch.eye(7, 3))
    transform = SimilarityMetadata(
        top_k=2, base=(tiny['user_base'], tiny['item_base']),
        feature_channel=True)
    out = transform(data)
    assert 'social_metadata' not in data['item']  # input left untouched
    assert torch.equal(
        out['item'].social_metadata,
        social_metadata(tiny['edge_index'], 6, 7, tiny['user_base'],
                        tiny['item_base']))
    assert torch.equal(
        out['item'].knowledge_metadata,
        knowledge_metadata(tiny['edge_index'], 6, 7, tiny['item_base'],
                           top_k=2))
    assert torch.equal(
        out['item'].feature_metadata,
        feature_metadata(torch.eye(7, 3), tiny['item_base'], top_k=2))
    assert str(transform) == ('SimilarityMetadata(top_k=2, base=given, '
                              'dim=64, feature_channel=True)')


def test_transform_svd_default(tiny):
    out = SimilarityMetadata(dim=3)(hetero(tiny['edge_index'], 6, 7))
    user_base, item_base = svd_base(tiny['edge_index'], 6, 7, dim=3)
    assert out['item'].social_metadata.shape == (7, 3)
    assert torch.equal(
        out['item'].knowledge_metadata,
        knowledge_metadata(tiny['edge_index'], 6, 7, item_base))
    assert 'feature_metadata' not in out['item']


def test_transform_npy_paths(tiny, tmp_path):
    user_path, item_path = tmp_path / 'u.npy', tmp_path / 'i.npy'
    np.save(user_path, tiny['user_base'].numpy())
    np.save(item_path, tiny['item_base'].numpy()[:5])
    transform = SimilarityMetadata(base=(str(user_path), str(item_path)))
    with pytest.raises(ValueError, match=r"i\.npy' must have shape \[7, dim"):
        transform(hetero(tiny['edge_index'], 6, 7))
    transform = SimilarityMetadata(base=(str(user_path), 'missing.npy'))
    with pytest.raises(FileNotFoundError, match="'missing.npy' not found"):
        transform(hetero(tiny['edge_index'], 6, 7))


def test_bad_inputs(tiny):
    edge_index, ub, ib = (tiny['edge_index'], tiny['user_base'],
                          tiny['item_base'])
    with pytest.raises(ValueError, match=r"column 2 has user id 6"):
        social_metadata(torch.tensor([[0, 1, 6], [0, 0, 0]]), 6, 7, ub, ib)
    with pytest.raises(ValueError, match=r"column 0 has item id -1"):
        knowledge_metadata(torch.tensor([[0], [-1]]), 6, 7, ib)
    with pytest.raises(ValueError, match=r"shape \[2, num_edges\]"):
        knowledge_metadata(edge_index.t(), 6, 7, ib)
    with pytest.raises(TypeError, match='integer ids'):
        knowledge_metadata(edge_index.float(), 6, 7, ib)
    with pytest.raises(ValueError, match=r"'user_base' must have shape \[6"):
        social_metadata(edge_index, 6, 7, ub[:5], ib)
    with pytest.raises(ValueError, match='same dimension'):
        social_metadata(edge_index, 6, 7, ub, ib[:, :3])
    bad = ib.clone()
    bad[3, 1] = float('nan')
    with pytest.raises(ValueError, match=r"'item_base' holds NaN or inf "
                       r"values \(first in row 3\)"):
        knowledge_metadata(edge_index, 6, 7, bad)
    bad[3, 1] = float('inf')
    with pytest.raises(ValueError, match='NaN or inf'):
        social_metadata(edge_index, 6, 7, ub, bad)
    with pytest.raises(ValueError, match="'top_k' must be a positive"):
        knowledge_metadata(edge_index, 6, 7, ib, top_k=0)
    with pytest.raises(ValueError, match=r"'x' must have shape \[7, dim\]"):
        feature_metadata(torch.ones(6, 2), ib)
    with pytest.raises(ValueError, match="'num_items' must be a positive"):
        knowledge_metadata(edge_index, 6, 0, ib)
    with pytest.raises(ValueError, match="'chunk_size' must be a positive"):
        jaccard_similarity(edge_index, 6, 7, chunk_size=0)
    with pytest.raises(ValueError, match="'epochs' must be a non-negative"):
        lightgcn_base(edge_index, 6, 7, epochs=-1)


def test_transform_bad_inputs(tiny):
    with pytest.raises(ValueError, match="'base' must be 'svd', 'lightgcn'"):
        SimilarityMetadata(base='pca')
    with pytest.raises(TypeError, match="'base' must be 'svd', 'lightgcn'"):
        SimilarityMetadata(base=tiny['user_base'])
    data = hetero(tiny['edge_index'], 6, 7)
    with pytest.raises(ValueError, match=r"needs item features in "
                       r"data\['item'\]\.x"):
        SimilarityMetadata(feature_channel=True, dim=3)(data)
    base = (tiny['user_base'], tiny['item_base'])
    with pytest.raises(ValueError, match="column 1 has item id 7"):
        SimilarityMetadata(base=base)(hetero(torch.tensor([[0, 1], [0, 7]]),
                                             6, 7))
    data = HeteroData()
    data['user'].num_nodes = 6
    data['item'].num_nodes = 7
    with pytest.raises(ValueError, match="has no \\('user', 'interacts'"):
        SimilarityMetadata(base=base)(data)


# Real data ###################################################################


def float32_tie_rows(train, num_users, num_items, k):
    r"""Items whose k-th and (k+1)-th largest positive float32 Jaccard
    similarities are equal, so that the top-k set is ambiguous."""
    mat = sp.csr_matrix((np.ones(len(train), np.float32),
                         (train[:, 0], train[:, 1])),
                        shape=(num_users, num_items))
    mat.data[:] = 1.  # duplicates count once
    inter = (mat.T @ mat).toarray().astype(np.float32)
    degree = np.diag(inter).copy()
    union = degree[:, None] + degree[None, :] - inter
    sim = inter / (union + np.float32(1e-8))
    np.fill_diagonal(sim, 0.)
    top = -np.sort(-sim, axis=1)[:, k - 1:k + 1]
    return (top[:, 0] == top[:, 1]) & (top[:, 1] > 0)


def test_office_reproduces_shipped_metadata(office_dir):
    train = np.loadtxt(osp.join(office_dir, 'train.txt'), dtype=np.int64)
    num_users, num_items = 4905, 2420
    data = hetero(torch.from_numpy(train).t(), num_users, num_items)
    transform = SimilarityMetadata(
        top_k=20, base=(osp.join(office_dir, 'uEmbeds_pt.npy'),
                        osp.join(office_dir, 'iEmbeds_pt.npy')))
    out = transform(data)
    social = np.load(osp.join(office_dir, 'item_social_emb.npy'))
    knowledge = np.load(osp.join(office_dir, 'item_knowledge_emb.npy'))

    social_diff = np.abs(out['item'].social_metadata.numpy() - social)
    assert social_diff.max() < 1e-4

    ties = float32_tie_rows(train, num_users, num_items, k=20)
    assert ties.sum() == 897  # ambiguous top-20 neighbourhoods
    row_diff = np.abs(out['item'].knowledge_metadata.numpy() -
                      knowledge).max(axis=1)
    assert row_diff[~ties].max() < 1e-4
    # Breaking ties towards the lower item id also matches the tie rows.
    assert row_diff[ties].max() < 1e-4
