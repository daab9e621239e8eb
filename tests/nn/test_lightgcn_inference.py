import os.path as osp

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.nn.models import LightGCN
from torch_geometric.typing import WITH_TORCH_SPARSE, SparseTensor

from torch_geometric_infodcl.nn.lightgcn_inference import LightGCNInference
from torch_geometric_infodcl.utils.sparse import bipartite_gcn_norm

NUM_USERS, NUM_ITEMS, CHANNELS = 7, 5, 4


def bipartite_graph() -> torch.Tensor:
    # User 6 and item 4 are isolated; (0, 1) is duplicated.
    return torch.tensor([
        [0, 0, 0, 1, 2, 2, 3, 4, 5, 5, 0],
        [0, 1, 2, 1, 2, 3, 3, 0, 1, 3, 1],
    ])


def homogeneous(edge_index: torch.Tensor) -> torch.Tensor:
    # The undirected graph implied by (user, item) edges: items offset by U.
    user, item = edge_index[0], edge_index[1] + NUM_USERS
    return torch.stack([torch.cat([user, item]), torch.cat([item, user])])


def pyg_embedding(x: torch.Tensor, adj, num_layers: int,
                  alpha=None) -> torch.Tensor:
    model = LightGCN(x.size(0), x.size(1), num_layers, alpha=alpha)
    with torch.no_grad():
        model.embedding.weight.copy_(x)
    return model.get_embedding(adj).detach()


def embeddings(seed: int = 0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    user = torch.randn(NUM_USERS, CHANNELS, generator=gen, dtype=dtype)
    item = torch.randn(NUM_ITEMS, CHANNELS, generator=gen, dtype=dtype)
    return user, item


@pytest.mark.parametrize('num_layers', [0, 1, 2, 3])
def test_bipartite_matches_pyg(num_layers):
    user, item = embeddings()
    edge_index = bipartite_graph()
    user_out, item_out = LightGCNInference(num_layers)((user, item),
                                                       edge_index)
    expected = pyg_embedding(torch.cat([user, item]), homogeneous(edge_index),
                             num_layers)
    assert torch.allclose(user_out, expected[:NUM_USERS], atol=1e-5)
    assert torch.allclose(item_out, expected[NUM_USERS:], atol=1e-5)


@pytest.mark.parametrize('num_layers', [0, 1, 2, 3])
def test_edge_index_as_given_matches_lgconv(num_layers):
    # A directed graph with a self-loop and a duplicate: LGConv normalises by
    # in-degree and aggregates along source -> target.
    x = torch.randn(6, CHANNELS, generator=torch.Generator().manual_seed(1))
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 3, 4, 2, 0],
                               [1, 2, 2, 0, 0, 3, 1, 4, 4]])
    out = LightGCNInference(num_layers)(x, edge_index)
    assert torch.allclose(out, pyg_embedding(x, edge_index, num_layers),
                          atol=1e-5)


@pytest.mark.parametrize('alpha', [0.7, torch.tensor([0.5, 0.2, -0.1, 0.4])])
def test_custom_alpha_matches_pyg(alpha):
    user, item = embeddings(2)
    edge_index = bipartite_graph()
    user_out, item_out = LightGCNInference(3, alpha=alpha)((user, item),
                                                           edge_index)
    expected = pyg_embedding(torch.cat([user, item]), homogeneous(edge_index),
                             3, alpha=alpha)
    assert torch.allclose(torch.cat([user_out, item_out]), expected,
                          atol=1e-5)


def test_duplicate_edges_hand_computed():
    # User 0 -- item 0 twice, user 0 -- item 1 once: deg(u0) = 3,
    # deg(i0) = 2, deg(i1) = 1, so R~[0, 0] = 2 / sqrt(6) and
    # R~[0, 1] = 1 / sqrt(3) (PyG agreement: test_bipartite_matches_pyg).
    edge_index = torch.tensor([[0, 0, 0], [0, 0, 1]])
    mat, mat_t = bipartite_gcn_norm(edge_index, 1, 2)
    expected = torch.tensor([[2 / 6**0.5, 1 / 3**0.5]])
    assert torch.allclose(mat.to_dense(), expected)
    assert torch.allclose(mat_t.to_dense(), expected.t())

    user, item = torch.tensor([[1.0]]), torch.tensor([[2.0], [4.0]])
    user_out, item_out = LightGCNInference(1)((user, item), edge_index)
    # (x + A x) / 2 with one layer and uniform alpha.
    assert torch.allclose(user_out, (user + expected @ item) / 2)
    assert torch.allclose(item_out, (item + expected.t() @ user) / 2)


def test_isolated_nodes_keep_alpha0_and_no_nan():
    user, item = embeddings(3)
    user_out, item_out = LightGCNInference(2)((user, item), bipartite_graph())
    assert torch.isfinite(user_out).all() and torch.isfinite(item_out).all()
    assert torch.allclose(user_out[6], user[6] / 3)
    assert torch.allclose(item_out[4], item[4] / 3)

    empty = torch.empty(2, 0, dtype=torch.long)
    user_out, item_out = LightGCNInference(2)((user, item), empty)
    assert torch.allclose(user_out, user / 3)
    assert torch.allclose(item_out, item / 3)


def test_torch_sparse_adjacency_matches_pyg():
    x = torch.cat(embeddings(4))
    edge_index = homogeneous(bipartite_graph())
    expected = pyg_embedding(x, edge_index, 2)
    num_nodes = x.size(0)
    # A sparse adjacency is read as adj_t (row = receiver), as in LGConv.
    coo = torch.sparse_coo_tensor(edge_index.flip(0),
                                  torch.ones(edge_index.size(1)),
                                  (num_nodes, num_nodes),
                                  check_invariants=True)  # uncoalesced
    for adj in (coo, coo.coalesce().to_sparse_csr(),
                coo.coalesce().to_sparse_csc()):
        out = LightGCNInference(2)(x, adj)
        assert torch.allclose(out, expected, atol=1e-5)


def test_weighted_sparse_adjacency_matches_pyg():
    x = torch.randn(4, CHANNELS, generator=torch.Generator().manual_seed(5))
    adj = torch.tensor([[0., 2., 0., 0.], [2., 0., .5, 0.], [0., .5, 0., 0.],
                        [0., 0., 0., 0.]]).to_sparse_csr()
    out = LightGCNInference(2)(x, adj)
    assert torch.allclose(out, pyg_embedding(x, adj, 2), atol=1e-5)


@pytest.mark.skipif(not WITH_TORCH_SPARSE, reason='torch_sparse missing')
def test_sparse_tensor_matches_pyg():
    x = torch.cat(embeddings(6))
    edge_index = homogeneous(bipartite_graph())
    adj = SparseTensor.from_edge_index(edge_index.flip(0),
                                       sparse_sizes=(x.size(0), x.size(0)))
    out = LightGCNInference(2)(x, adj)
    assert torch.allclose(out, pyg_embedding(x, edge_index, 2), atol=1e-5)


def test_gradients_match_pyg_autograd():
    user, item = embeddings(7)
    weight = torch.randn(NUM_USERS + NUM_ITEMS, CHANNELS,
                         generator=torch.Generator().manual_seed(8))
    user.requires_grad_()
    item.requires_grad_()
    user_out, item_out = LightGCNInference(3)((user, item), bipartite_graph())
    ((torch.cat([user_out, item_out]) * weight).sum()).backward()

    model = LightGCN(NUM_USERS + NUM_ITEMS, CHANNELS, 3)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.cat([user, item]))
    (model.get_embedding(homogeneous(bipartite_graph())) * weight).sum() \
        .backward()
    expected = model.embedding.weight.grad
    assert torch.allclose(user.grad, expected[:NUM_USERS], atol=1e-5)
    assert torch.allclose(item.grad, expected[NUM_USERS:], atol=1e-5)


def test_gradcheck_and_second_order():
    # Small inputs: gradgradcheck costs O(numel^2) tiny sparse products.
    gen = torch.Generator().manual_seed(9)
    user = torch.randn(3, 2, generator=gen, dtype=torch.float64,
                       requires_grad=True)
    item = torch.randn(2, 2, generator=gen, dtype=torch.float64,
                       requires_grad=True)
    edge_index = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])
    model = LightGCNInference(2)
    assert torch.autograd.gradcheck(lambda u, i: model((u, i), edge_index),
                                    (user, item))
    assert torch.autograd.gradgradcheck(
        lambda u, i: model((u, i), edge_index), (user, item))
    directed = torch.tensor([[0, 1, 2, 2], [1, 2, 0, 3]])
    x = torch.randn(4, 2, dtype=torch.float64, generator=gen,
                    requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(x, directed), (x, ))


def test_cache_is_reused_only_for_the_same_graph():
    user, item = embeddings(10)
    model = LightGCNInference(2)
    graph_a = bipartite_graph()
    out_a = model((user, item), graph_a)
    mats = model._cache.mats
    model((user, item), graph_a)
    assert model._cache.mats is mats  # hit: same tensor, unchanged

    # Same shape and nnz, different tensor and content -> recomputed.
    graph_b = graph_a.clone()
    graph_b[1, 0] = 4
    out_b = model((user, item), graph_b)
    fresh_b = LightGCNInference(2, cached=False)((user, item), graph_b)
    assert not torch.allclose(out_b[0], out_a[0])
    assert torch.equal(out_b[0], fresh_b[0])

    # In-place edit of the cached tensor -> recomputed.
    graph_b[1, 0] = 0
    out_edit = model((user, item), graph_b)
    assert torch.equal(out_edit[0], out_a[0])

    # Same tensor, more item rows -> recomputed (degrees/sizes differ).
    bigger_item = torch.cat([item, torch.ones(2, CHANNELS)])
    assert model((user, bigger_item), graph_b)[1].size(0) == NUM_ITEMS + 2

    # Same tensor, other dtype -> recomputed in that dtype.
    out64 = model((user.double(), item.double()), graph_b)
    assert model._cache.mats[0].dtype == torch.float64
    assert torch.allclose(out64[0].float(), out_a[0], atol=1e-6)

    # In-place edit of a sparse adjacency's weights -> recomputed.
    x = torch.cat([user, item])
    adj = torch.sparse_coo_tensor(homogeneous(graph_a).flip(0),
                                  torch.ones(22), (12, 12),
                                  check_invariants=True).coalesce()
    before = model(x, adj)
    adj.values()[:4].mul_(3.)
    assert torch.allclose(model(x, adj), LightGCNInference(2)(x, adj))
    assert not torch.allclose(model(x, adj), before)

    model.reset_cache()
    assert model._cache is None
    uncached = LightGCNInference(2, cached=False)
    uncached((user, item), graph_a)
    assert uncached._cache is None


def test_half_precision_on_cpu_keeps_dtype():
    user, item = embeddings(11)
    out = LightGCNInference(2)((user.half(), item.half()), bipartite_graph())
    ref = LightGCNInference(2)((user, item), bipartite_graph())
    assert out[0].dtype == torch.float16
    assert torch.allclose(out[0].float(), ref[0], atol=1e-2)


def test_bad_input_raises():
    user, item = embeddings(12)
    model = LightGCNInference(2)
    graph = bipartite_graph()
    with pytest.raises(ValueError, match=r"item ids\) contains the id 5, "
                       r"but 'item_emb' has only 5 rows"):
        model((user, item), torch.tensor([[0, 1], [2, 5]]))
    with pytest.raises(ValueError, match=r"user ids\) contains the id 9, "
                       r"but 'user_emb' has only 7 rows"):
        model((user, item), torch.tensor([[9, 1], [2, 3]]))
    with pytest.raises(ValueError, match='negative id -1'):
        model((user, item), torch.tensor([[0, -1], [2, 3]]))
    with pytest.raises(ValueError, match=r"contains the id 12, but 'x' has "
                       r"only 12 rows"):
        model(torch.cat([user, item]), torch.tensor([[0, 12], [1, 2]]))
    with pytest.raises(ValueError, match=r'shape \[2, num_edges\] \(got '
                       r'\(3, 11\)\)'):
        model((user, item), torch.cat([graph, graph[:1]]))
    with pytest.raises(TypeError, match='integer ids.*float32'):
        model((user, item), graph.float())
    with pytest.raises(TypeError, match='must be a torch.Tensor'):
        model((user, item), graph.tolist())
    with pytest.raises(TypeError, match='dense'):
        model((user, item), graph.to_sparse())
    with pytest.raises(ValueError, match='same embedding size .* 4 and 3'):
        model((user, item[:, :3]), graph)
    nan_item = item.clone()
    nan_item[3, 1] = float('nan')
    with pytest.raises(ValueError, match="'item_emb' holds NaN or inf values "
                       r"\(first in row 3\)"):
        model((user, nan_item), graph)
    with pytest.raises(ValueError, match=r'shape \[12, 12\] to match'):
        model(torch.cat([user, item]), torch.eye(11).to_sparse())
    with pytest.raises(ValueError, match='pair'):
        model((user, item, item), graph)
    with pytest.raises(ValueError, match='negative weighted degree at '
                       'node 1'):
        model(torch.ones(2, 2), torch.tensor([[0., 1.], [-3., 0.]])
              .to_sparse())
    with pytest.raises(ValueError, match=r"'edge_index' column 0 has item id "
                       r"2 outside \[0, 2\)"):
        bipartite_gcn_norm(torch.tensor([[0], [2]]), 1, 2)
    with pytest.raises(ValueError, match='num_layers \\+ 1 = 3 weights'):
        LightGCNInference(2, alpha=torch.ones(2))
    with pytest.raises(ValueError, match="'num_layers' must be"):
        LightGCNInference(-1)


def test_repr_and_alpha_buffer():
    model = LightGCNInference(2)
    assert repr(model) == 'LightGCNInference(num_layers=2)'
    assert torch.allclose(model.alpha, torch.full((3, ), 1 / 3))
    assert list(model.parameters()) == []
    model.reset_parameters()


def test_office_normalisation_matches_authors_adjacency(office_dir):
    # Real data: R~ must equal the user-item block of the authors' shipped
    # D^-1/2 A D^-1/2 (built by their code from the same train.txt).
    pairs = np.loadtxt(osp.join(office_dir, 'train.txt'), dtype=np.int64)
    num_users, num_items = 4905, 2420
    edge_index = torch.from_numpy(pairs.T.copy())
    mat, mat_t = bipartite_gcn_norm(edge_index, num_users, num_items)
    adj = sp.load_npz(osp.join(office_dir, 's_pre_adj_mat.npz')).tocsr()
    block = adj[:num_users, num_users:].tocoo()
    expected = torch.sparse_coo_tensor(
        torch.from_numpy(np.vstack([block.row, block.col]).astype(np.int64)),
        torch.from_numpy(block.data.astype(np.float32)),
        (num_users, num_items)).to_dense()
    assert torch.allclose(mat.to_dense(), expected, atol=1e-6)
    assert torch.equal(mat_t.to_dense(), mat.to_dense().t())

    # And two propagation layers equal dense products with that block.
    user = torch.from_numpy(np.load(osp.join(office_dir, 'uEmbeds_pt.npy')))
    item = torch.from_numpy(np.load(osp.join(office_dir, 'iEmbeds_pt.npy')))
    user_out, item_out = LightGCNInference(2)((user, item), edge_index)
    user1, item1 = expected @ item, expected.t() @ user
    user2, item2 = expected @ item1, expected.t() @ user1
    assert torch.allclose(user_out, (user + user1 + user2) / 3, atol=1e-5)
    assert torch.allclose(item_out, (item + item1 + item2) / 3, atol=1e-5)
