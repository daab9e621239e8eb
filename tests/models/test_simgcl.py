import pytest
import torch
from torch_geometric.nn.conv import LGConv

from torch_geometric_infodcl.data.sampling import TrainBatch
from torch_geometric_infodcl.models.simgcl import SimGCL, XSimGCL

NUM_USERS, NUM_ITEMS = 5, 6


def tiny_graph():
    # Item 5 is isolated; user 0 has a duplicated edge.
    return torch.tensor([[0, 0, 0, 1, 1, 2, 3, 3, 4],
                         [0, 1, 1, 1, 2, 3, 0, 4, 2]])


def tiny_batch():
    return TrainBatch(torch.tensor([0, 1, 3, 0]), torch.tensor([1, 2, 4, 0]),
                      torch.tensor([5, 3, 1, 2]))


def dense_normalized_adjacency(edge_index, num_users, num_items):
    r"""D^-1/2 A D^-1/2 of the undirected bipartite graph, written out."""
    n = num_users + num_items
    adj = torch.zeros(n, n)
    for u, i in edge_index.t().tolist():
        adj[u, num_users + i] += 1
        adj[num_users + i, u] += 1
    deg = adj.sum(1)
    scale = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    return scale.view(-1, 1) * adj * scale.view(1, -1)


def reference_layers(x0, adj, num_layers, eps=0.0, noises=None):
    layers, x = [], x0
    for layer in range(num_layers):
        x = adj @ x
        if noises is not None:
            noise = noises[layer]
            x = x + torch.sign(x) * noise / noise.norm(dim=1,
                                                       keepdim=True) * eps
        layers.append(x)
    return layers


def reference_info_nce(a, b, tau):
    a = a / a.norm(dim=1, keepdim=True)
    b = b / b.norm(dim=1, keepdim=True)
    sim = torch.exp(a @ b.t() / tau)
    return (-torch.log(sim.diag() / sim.sum(1))).mean()


def reference_bpr_reg(model, batch, final):
    user_final = final[batch.user]
    pos_final = final[NUM_USERS + batch.pos_item]
    neg_final = final[NUM_USERS + batch.neg_item]
    diff = (user_final * pos_final).sum(1) - (user_final * neg_final).sum(1)
    bpr = -torch.log(torch.sigmoid(diff)).mean()
    reg = (model.user_emb.weight[batch.user].pow(2).sum() +
           model.item_emb.weight[batch.pos_item].pow(2).sum() +
           model.item_emb.weight[batch.neg_item].pow(2).sum()) / (
               2 * batch.user.numel())
    return bpr, reg


def table(model):
    return torch.cat([model.user_emb.weight, model.item_emb.weight]).detach()


def test_propagation_equals_pyg_lgconv_layers():
    torch.manual_seed(0)
    model = SimGCL(NUM_USERS, NUM_ITEMS, dim=8, num_layers=3,
                   edge_index=tiny_graph())
    user, item = tiny_graph()
    item = item + NUM_USERS
    homogeneous = torch.stack([torch.cat([user, item]),
                               torch.cat([item, user])])
    conv, x = LGConv(), table(model)
    layers = model.propagate((model.adj, model.adj_t))
    for user_emb, item_emb in layers:
        x = conv(x, homogeneous)
        torch.testing.assert_close(torch.cat([user_emb, item_emb]), x)
    # Evaluation: the mean of layers 1..L (layer 0 left out).
    expected = torch.stack(reference_layers(
        table(model),
        dense_normalized_adjacency(tiny_graph(), NUM_USERS, NUM_ITEMS),
        3)).mean(0)
    with torch.no_grad():
        user_emb, item_emb = model.embeddings(tiny_graph())
    torch.testing.assert_close(torch.cat([user_emb, item_emb]), expected)


def test_simgcl_loss_matches_dense_reference():
    torch.manual_seed(1)
    model = SimGCL(NUM_USERS, NUM_ITEMS, dim=4, num_layers=2, reg_weight=0.3,
                   cl_weight=0.7, tau=0.25, eps=0.15, edge_index=tiny_graph())
    batch = tiny_batch()
    torch.manual_seed(42)
    total, terms = model.loss(batch)

    # The same noise: 2 views x 2 layers, one [U + I, d] draw per layer.
    torch.manual_seed(42)
    noises = [torch.rand(NUM_USERS + NUM_ITEMS, 4) for _ in range(4)]
    adj = dense_normalized_adjacency(tiny_graph(), NUM_USERS, NUM_ITEMS)
    x0 = table(model)
    clean = torch.stack(reference_layers(x0, adj, 2)).mean(0)
    view1 = torch.stack(reference_layers(x0, adj, 2, 0.15, noises[:2])).mean(0)
    view2 = torch.stack(reference_layers(x0, adj, 2, 0.15, noises[2:])).mean(0)
    users = torch.tensor([0, 1, 3])
    items = NUM_USERS + torch.tensor([0, 1, 2, 4])
    cl = (reference_info_nce(view1[users], view2[users], 0.25) +
          reference_info_nce(view1[items], view2[items], 0.25))
    bpr, reg = reference_bpr_reg(model, batch, clean)

    torch.testing.assert_close(terms['bpr'], bpr)
    torch.testing.assert_close(terms['cl'], cl)
    torch.testing.assert_close(terms['reg'], reg)
    torch.testing.assert_close(total, bpr + 0.7 * cl + 0.3 * reg)


def test_xsimgcl_loss_matches_dense_reference():
    torch.manual_seed(2)
    model = XSimGCL(NUM_USERS, NUM_ITEMS, dim=4, num_layers=3, reg_weight=0.2,
                    cl_weight=0.4, tau=0.3, eps=0.2, cl_layer=2,
                    edge_index=tiny_graph())
    batch = tiny_batch()
    torch.manual_seed(7)
    total, terms = model.loss(batch)

    torch.manual_seed(7)
    noises = [torch.rand(NUM_USERS + NUM_ITEMS, 4) for _ in range(3)]
    adj = dense_normalized_adjacency(tiny_graph(), NUM_USERS, NUM_ITEMS)
    layers = reference_layers(table(model), adj, 3, 0.2, noises)
    final, contrast = torch.stack(layers).mean(0), layers[1]
    users = torch.tensor([0, 1, 3])
    items = NUM_USERS + torch.tensor([0, 1, 2, 4])
    cl = (reference_info_nce(final[users], contrast[users], 0.3) +
          reference_info_nce(final[items], contrast[items], 0.3))
    bpr, reg = reference_bpr_reg(model, batch, final)

    torch.testing.assert_close(terms['bpr'], bpr)
    torch.testing.assert_close(terms['cl'], cl)
    torch.testing.assert_close(terms['reg'], reg)
    torch.testing.assert_close(total, bpr + 0.4 * cl + 0.2 * reg)
    # Evaluation is clean: no noise, whatever the random state.
    with torch.no_grad():
        first = model.embeddings(tiny_graph())
        second = model.embeddings(tiny_graph())
    torch.testing.assert_close(first, second)


def test_perturbation_keeps_the_orthant_and_has_norm_eps():
    torch.manual_seed(3)
    model = SimGCL(NUM_USERS, NUM_ITEMS, dim=16, eps=0.1)
    user = torch.randn(NUM_USERS, 16)
    item = torch.randn(NUM_ITEMS, 16)
    new_user, new_item = model.perturb(user, item)
    for old, new in ((user, new_user), (item, new_item)):
        delta = new - old
        assert bool((torch.sign(delta) == torch.sign(old)).all())
        torch.testing.assert_close(delta.norm(dim=1),
                                   torch.full((old.size(0), ), 0.1))


def test_gradients_reach_the_tables_and_a_step_lowers_the_loss():
    torch.manual_seed(4)
    model = SimGCL(NUM_USERS, NUM_ITEMS, dim=8, num_layers=2, cl_weight=0.1,
                   edge_index=tiny_graph())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(20):
        torch.manual_seed(0)  # Same noise each step: a deterministic loss.
        total, _ = model.loss(tiny_batch())
        optimizer.zero_grad()
        total.backward()
        assert model.user_emb.weight.grad.abs().sum() > 0
        optimizer.step()
        losses.append(float(total.detach()))
    assert losses[-1] < losses[0]


def test_evaluation_on_another_graph_normalises_it_afresh():
    torch.manual_seed(5)
    model = SimGCL(NUM_USERS, NUM_ITEMS, dim=4, num_layers=1,
                   edge_index=tiny_graph())
    other = torch.tensor([[0, 4], [5, 5]])
    user_emb, item_emb = model.embeddings(other)
    adj = dense_normalized_adjacency(other, NUM_USERS, NUM_ITEMS)
    torch.testing.assert_close(torch.cat([user_emb, item_emb]).detach(),
                               adj @ table(model))


def test_repr_and_state_dict_hold_only_the_tables():
    model = XSimGCL(NUM_USERS, NUM_ITEMS, dim=4, num_layers=2,
                    edge_index=tiny_graph())
    assert str(model) == 'XSimGCL(5, 6, dim=4, num_layers=2, cl_layer=1)'
    assert str(SimGCL(3, 4)) == 'SimGCL(3, 4, dim=64, num_layers=3)'
    assert set(model.state_dict()) == {'user_emb.weight', 'item_emb.weight'}


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_layers=0), 'num_layers'),
    (dict(tau=0.0), 'tau'),
    (dict(eps=-0.1), 'eps'),
    (dict(cl_weight=float('nan')), 'cl_weight'),
    (dict(reg_weight=-1.0), 'reg_weight'),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimGCL(NUM_USERS, NUM_ITEMS, **kwargs)


def test_xsimgcl_cl_layer_out_of_range_is_an_error():
    with pytest.raises(ValueError, match='cl_layer'):
        XSimGCL(NUM_USERS, NUM_ITEMS, num_layers=2, cl_layer=3)


def test_loss_without_a_graph_or_with_bad_ids_is_an_error():
    model = SimGCL(NUM_USERS, NUM_ITEMS)
    with pytest.raises(ValueError, match='set_graph'):
        model.loss(tiny_batch())
    with pytest.raises(ValueError, match='edge_index'):
        model.set_graph(torch.tensor([[0], [NUM_ITEMS]]))
    model.set_graph(tiny_graph())
    bad = TrainBatch(torch.tensor([NUM_USERS]), torch.tensor([0]),
                     torch.tensor([1]))
    with pytest.raises(ValueError, match='batch.user'):
        model.loss(bad)
