import pytest
import torch
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from torch_geometric_infodcl.utils.sparse import (
    bipartite_adjacency,
    bipartite_gcn_norm,
    bipartite_propagate,
    compact_index_dtype,
    csr_row_index,
    csr_rows,
    csr_transpose,
    gcn_norm_csr,
    spmm,
    to_csr,
)

NUM_USERS, NUM_ITEMS = 6, 5


def bipartite_graph() -> torch.Tensor:
    # User 5 and item 4 are isolated; (0, 1) appears twice.
    return torch.tensor([[0, 0, 0, 1, 2, 2, 3, 4, 0],
                         [0, 1, 2, 1, 2, 3, 3, 0, 1]])


def pyg_dense(edge_index, edge_weight, num_nodes):
    r"""PyG's gcn_norm (no self-loops) as a dense matrix indexed
    [receiver, sender]; duplicated edges are summed, as message passing
    sums them."""
    index, weight = gcn_norm(edge_index, edge_weight, num_nodes,
                             add_self_loops=False)
    dense = torch.zeros(num_nodes, num_nodes)
    return dense.index_put_((index[1], index[0]), weight, accumulate=True)


def homogeneous(edge_index):
    user, item = edge_index[0], edge_index[1] + NUM_USERS
    return torch.stack([torch.cat([user, item]), torch.cat([item, user])])


# PyG's gcn_norm semantics, tested once #######################################


def test_bipartite_adjacency_equals_pyg_gcn_norm():
    edge_index = bipartite_graph()
    num_nodes = NUM_USERS + NUM_ITEMS
    adj = bipartite_adjacency(edge_index, NUM_USERS, NUM_ITEMS)
    assert adj.layout == torch.sparse_csr and adj.shape == (11, 11)
    expected = pyg_dense(homogeneous(edge_index), None, num_nodes)
    assert torch.allclose(adj.to_dense(), expected, atol=1e-7)
    # Isolated nodes: zero rows and columns, no NaN.
    assert adj.to_dense()[NUM_USERS - 1].abs().sum() == 0
    assert adj.to_dense()[:, num_nodes - 1].abs().sum() == 0
    # The duplicate counts twice: deg(u0) = 4, deg(i1) = 3 -> 2 / sqrt(12).
    assert adj.to_dense()[0, NUM_USERS + 1] == pytest.approx(2 / 12**0.5)


def test_bipartite_block_is_the_homogeneous_block():
    edge_index = bipartite_graph()
    mat, mat_t = bipartite_gcn_norm(edge_index, NUM_USERS, NUM_ITEMS)
    dense = bipartite_adjacency(edge_index, NUM_USERS, NUM_ITEMS).to_dense()
    assert torch.equal(mat.to_dense(), dense[:NUM_USERS, NUM_USERS:])
    assert torch.equal(mat_t.to_dense(), dense[NUM_USERS:, :NUM_USERS])
    assert mat.crow_indices().dtype == torch.int32  # compact by default
    mat64, _ = bipartite_gcn_norm(edge_index, NUM_USERS, NUM_ITEMS,
                                  dtype=torch.float64,
                                  index_dtype=torch.int64)
    assert mat64.dtype == torch.float64
    assert mat64.col_indices().dtype == torch.int64
    assert torch.allclose(mat64.to_dense().float(), mat.to_dense())


def test_directed_weighted_graph_equals_pyg_gcn_norm():
    # A self-loop, a duplicate, an isolated node (5) and edge weights.
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 3, 4, 2, 0],
                               [1, 2, 2, 0, 0, 3, 1, 4, 4]])
    weight = torch.tensor([1., 2., .5, 1., 3., 1., .25, 2., 1.])
    expected = pyg_dense(edge_index, weight, 6)
    mat = gcn_norm_csr(edge_index[1], edge_index[0], weight, 6)
    assert torch.allclose(mat.to_dense(), expected, atol=1e-7)
    unweighted = gcn_norm_csr(edge_index[1], edge_index[0], None, 6)
    assert torch.allclose(unweighted.to_dense(),
                          pyg_dense(edge_index, None, 6), atol=1e-7)


def test_gcn_norm_csr_errors():
    with pytest.raises(ValueError, match='negative weighted degree at '
                       'node 1'):
        gcn_norm_csr(torch.tensor([0, 1]), torch.tensor([1, 0]),
                     torch.tensor([1., -3.]), 2)
    with pytest.raises(ValueError, match='NaN or Inf weights'):
        gcn_norm_csr(torch.tensor([0]), torch.tensor([1]),
                     torch.tensor([float('nan')]), 2)
    with pytest.raises(ValueError, match=r"'col' contains the id 2, but "
                       r"num_nodes is 2"):
        gcn_norm_csr(torch.tensor([0]), torch.tensor([2]), None, 2)
    with pytest.raises(ValueError, match=r"'edge_index' column 0 has item id "
                       r"5 outside \[0, 5\)"):
        bipartite_adjacency(torch.tensor([[0], [5]]), NUM_USERS, NUM_ITEMS)


# CSR builders ################################################################


def test_to_csr_sums_duplicates_in_any_order():
    row = torch.tensor([2, 0, 2, 1, 0])
    col = torch.tensor([1, 3, 1, 0, 0])
    value = torch.tensor([1., 2., 3., 4., 5.])
    mat = to_csr(row, col, value, (3, 4))
    expected = torch.zeros(3, 4).index_put_((row, col), value,
                                            accumulate=True)
    assert torch.equal(mat.to_dense(), expected)
    assert mat.values().numel() == 4
    assert mat.crow_indices().dtype == torch.int64
    # Already sorted by row, no duplicates: used as given.
    sorted_mat = to_csr(torch.tensor([0, 0, 2]), torch.tensor([3, 1, 0]),
                        torch.tensor([1., 2., 3.]), (3, 4), is_sorted=True,
                        index_dtype=torch.int32)
    assert sorted_mat.col_indices().tolist() == [3, 1, 0]
    assert sorted_mat.to_dense()[0].tolist() == [0., 2., 0., 1.]


def test_csr_rows_transpose_and_row_index():
    dense = torch.tensor([[0., 1., 0.], [2., 0., 3.], [0., 0., 0.],
                          [4., 5., 6.]])
    mat = dense.to_sparse_csr()
    assert torch.equal(csr_rows(mat, 1, 4).to_dense(), dense[1:4])
    assert torch.equal(csr_transpose(mat).to_dense(), dense.t())
    assert csr_row_index(mat).tolist() == [0, 1, 1, 3, 3, 3]
    assert compact_index_dtype(10, 2**31 - 2) == torch.int32
    assert compact_index_dtype(2**31) == torch.int64


# Training-time propagation ###################################################


def test_spmm_and_bipartite_propagate_match_dense_with_gradients():
    gen = torch.Generator().manual_seed(0)
    adj = bipartite_gcn_norm(bipartite_graph(), NUM_USERS, NUM_ITEMS)
    dense = adj[0].to_dense()
    user = torch.randn(NUM_USERS, 3, generator=gen, requires_grad=True)
    item = torch.randn(NUM_ITEMS, 3, generator=gen, requires_grad=True)
    weight = torch.randn(NUM_USERS + NUM_ITEMS, 3, generator=gen)
    user_out, item_out = bipartite_propagate(adj, user, item)
    (torch.cat([user_out, item_out]) * weight).sum().backward()
    grads = user.grad.clone(), item.grad.clone()

    user.grad, item.grad = None, None
    ref_user, ref_item = dense @ item, dense.t() @ user
    assert torch.allclose(user_out, ref_user, atol=1e-6)
    assert torch.allclose(item_out, ref_item, atol=1e-6)
    (torch.cat([ref_user, ref_item]) * weight).sum().backward()
    assert torch.allclose(grads[0], user.grad, atol=1e-6)
    assert torch.allclose(grads[1], item.grad, atol=1e-6)


def test_spmm_gradcheck_with_and_without_cached_transpose():
    mat = torch.tensor([[0., 2., 1.], [3., 0., 0.]],
                       dtype=torch.float64).to_sparse_csr()
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True,
                    generator=torch.Generator().manual_seed(1))
    mat_t = csr_transpose(mat)
    assert torch.autograd.gradcheck(lambda x: spmm(mat, x, mat_t), (x, ))
    assert torch.autograd.gradgradcheck(lambda x: spmm(mat, x, mat_t), (x, ))
    assert torch.autograd.gradcheck(lambda x: spmm(mat, x), (x, ))
    assert torch.equal(spmm(mat, x.detach()), mat.to_dense() @ x.detach())
