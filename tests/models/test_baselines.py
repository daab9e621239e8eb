import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn.models import LightGCN

from torch_geometric_infodcl.data.sampling import NegativeSampler, TrainBatch
from torch_geometric_infodcl.models.baselines import MFBPR, PyGLightGCN


def homogeneous(edge_index, num_users):
    user, item = edge_index
    item = item + num_users
    return torch.stack([torch.cat([user, item]), torch.cat([item, user])])


def random_graph(num_users=7, num_items=9, num_edges=25, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([
        torch.randint(num_users, (num_edges, ), generator=gen),
        torch.randint(num_items, (num_edges, ), generator=gen),
    ])


def random_batch(num_users, num_items, size=6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return TrainBatch(torch.randint(num_users, (size, ), generator=gen),
                      torch.randint(num_items, (size, ), generator=gen),
                      torch.randint(num_items, (size, ), generator=gen))


def stock_lightgcn(model):
    r"""A default PyG LightGCN (normalising on the edge_index at every layer)
    holding the same weights as :obj:`model`."""
    stock = LightGCN(model.num_users + model.num_items, model.dim,
                     model.num_layers)
    stock.embedding.weight.data.copy_(model.lightgcn.embedding.weight)
    return stock


# MFBPR #######################################################################


def test_mfbpr_shapes_init_and_repr():
    torch.manual_seed(0)
    model = MFBPR(300, 400, dim=32, num_layers=2)
    edge_index = random_graph(300, 400, 2000)
    user, item = model.embeddings(edge_index)
    assert user.shape == (300, 32) and item.shape == (400, 32)
    # N(0, 0.1^2) initialisation.
    std = torch.cat([model.user_emb.weight, model.item_emb.weight]).std()
    assert abs(float(std.detach()) - 0.1) < 0.005
    assert str(model) == 'MFBPR(300, 400, dim=32, num_layers=2)'
    assert sum(p.numel() for p in model.parameters()) == 700 * 32


def test_mfbpr_loss_matches_hand_computation():
    model = MFBPR(2, 3, dim=2, reg_weight=0.5)
    with torch.no_grad():
        model.user_emb.weight.copy_(torch.tensor([[1., 0.], [0., 2.]]))
        model.item_emb.weight.copy_(
            torch.tensor([[1., 1.], [0., -1.], [2., 0.]]))
    batch = TrainBatch(torch.tensor([0, 1]), torch.tensor([0, 2]),
                       torch.tensor([2, 1]))
    total, terms = model.loss(batch)
    # Scores: u0.i0 = 1, u0.i2 = 2; u1.i2 = 0, u1.i1 = -2.
    bpr = (F.softplus(torch.tensor(2. - 1.)) +
           F.softplus(torch.tensor(-2. - 0.))) / 2
    # 1/2 (|u0|^2 + |u1|^2 + |i0|^2 + |i2|^2 + |i2|^2 + |i1|^2) / B.
    reg = 0.5 * (1 + 4 + 2 + 4 + 4 + 1) / 2
    assert torch.allclose(terms['bpr'], bpr)
    assert torch.allclose(terms['reg'], torch.tensor(reg))
    assert torch.allclose(total, bpr + 0.5 * reg)


def test_mfbpr_gradients_touch_only_batch_rows():
    model = MFBPR(5, 6, dim=4)
    batch = TrainBatch(torch.tensor([0, 3]), torch.tensor([1, 2]),
                       torch.tensor([4, 2]))
    model.loss(batch)[0].backward()
    user_rows = model.user_emb.weight.grad.abs().sum(1) > 0
    item_rows = model.item_emb.weight.grad.abs().sum(1) > 0
    assert user_rows.tolist() == [True, False, False, True, False]
    assert item_rows.tolist() == [False, True, True, False, True, False]


@pytest.mark.parametrize('num_layers', [0, 1, 3])
def test_mfbpr_embeddings_equal_pyg_lightgcn_propagation(num_layers):
    model = MFBPR(7, 9, dim=5, num_layers=num_layers)
    edge_index = random_graph()
    user, item = model.embeddings(edge_index)

    stock = LightGCN(16, 5, num_layers)
    stock.embedding.weight.data.copy_(
        torch.cat([model.user_emb.weight, model.item_emb.weight]))
    expected = stock.get_embedding(homogeneous(edge_index, 7))
    assert torch.allclose(user, expected[:7], atol=1e-6)
    assert torch.allclose(item, expected[7:], atol=1e-6)
    if num_layers == 0:
        assert torch.equal(user, model.user_emb.weight)


# PyGLightGCN #################################################################


def test_pyg_lightgcn_embeddings_equal_get_embedding():
    edge_index = random_graph()
    model = PyGLightGCN(7, 9, dim=5, num_layers=3, edge_index=edge_index)
    user, item = model.embeddings(edge_index)
    expected = stock_lightgcn(model).get_embedding(homogeneous(edge_index, 7))
    assert user.shape == (7, 5) and item.shape == (9, 5)
    assert torch.allclose(user, expected[:7], atol=1e-6)
    assert torch.allclose(item, expected[7:], atol=1e-6)


def test_pyg_lightgcn_scores_equal_pyg_forward():
    edge_index = random_graph()
    model = PyGLightGCN(7, 9, dim=5, num_layers=3, edge_index=edge_index)
    user, item = torch.tensor([0, 3, 6, 6]), torch.tensor([8, 0, 2, 8])
    expected = stock_lightgcn(model)(homogeneous(edge_index, 7),
                                     torch.stack([user, item + 7]))
    assert torch.allclose(model(user, item), expected, atol=1e-6)


def test_pyg_lightgcn_loss_and_gradients_equal_pyg_example():
    edge_index = random_graph()
    model = PyGLightGCN(7, 9, dim=5, num_layers=2, reg_weight=0.1)
    model.set_graph(edge_index)
    batch = random_batch(7, 9)
    total, terms = model.loss(batch)
    total.backward()

    # The training step of PyG's examples/lightgcn.py on the same weights.
    stock = stock_lightgcn(model)
    pos = torch.stack([batch.user, batch.pos_item + 7])
    neg = torch.stack([batch.user, batch.neg_item + 7])
    edge_label_index = torch.cat([pos, neg], dim=1)
    pos_rank, neg_rank = stock(homogeneous(edge_index, 7),
                               edge_label_index).chunk(2)
    expected = stock.recommendation_loss(pos_rank, neg_rank,
                                         node_id=edge_label_index.unique(),
                                         lambda_reg=0.1)
    expected.backward()
    assert torch.allclose(total, expected, atol=1e-6)
    assert torch.allclose(terms['bpr'],
                          -F.logsigmoid(pos_rank - neg_rank).mean())
    assert torch.allclose(terms['bpr'] + terms['reg'], total)
    assert torch.allclose(model.lightgcn.embedding.weight.grad,
                          stock.embedding.weight.grad, atol=1e-6)


def test_pyg_lightgcn_lazy_graph_and_errors():
    model = PyGLightGCN(7, 9, dim=5)
    batch = random_batch(7, 9)
    with pytest.raises(ValueError, match='no training graph.*set_graph'):
        model.loss(batch)
    model.set_graph(random_graph())
    assert torch.isfinite(model.loss(batch)[0])
    # The graph is rebuilt, not saved: state_dict holds only the weights.
    assert list(model.state_dict()) == ['lightgcn.alpha',
                                        'lightgcn.embedding.weight']
    with pytest.raises(ValueError, match='column 0 has item id 9'):
        model.set_graph(torch.tensor([[0], [9]]))
    assert str(model) == 'PyGLightGCN(7, 9, dim=5, num_layers=3)'


@pytest.mark.parametrize('cls', [MFBPR, PyGLightGCN])
def test_argument_and_batch_errors(cls):
    with pytest.raises(ValueError, match="'num_users' must be a positive"):
        cls(0, 5)
    with pytest.raises(TypeError, match="'dim' must be an int"):
        cls(3, 5, dim=4.0)
    with pytest.raises(ValueError,
                       match="'num_layers' must be a non-negative"):
        cls(3, 5, num_layers=-1)
    with pytest.raises(ValueError, match="'reg_weight' must be finite"):
        cls(3, 5, reg_weight=float('nan'))
    model = cls(3, 5)
    if cls is PyGLightGCN:
        model.set_graph(torch.tensor([[0, 1, 2], [0, 1, 2]]))
    with pytest.raises(ValueError, match=r"'batch.neg_item' contains the id "
                       r"5, but num_items is 5 \(valid ids are 0\.\.4\)"):
        model.loss(TrainBatch(torch.tensor([0, 1]), torch.tensor([0, 1]),
                              torch.tensor([0, 5])))
    with pytest.raises(ValueError, match='same shape'):
        model.loss(TrainBatch(torch.tensor([0, 1]), torch.tensor([0]),
                              torch.tensor([0, 1])))
    with pytest.raises(TypeError, match='must be a TrainBatch'):
        model.loss((torch.tensor([0]), ) * 3)


# Learning on planted preferences #############################################


def planted_split(num_users=80, num_items=160, num_clusters=4, seed=0):
    r"""Every user likes 14 random items of its own cluster: 10 train, 4
    test."""
    gen = torch.Generator().manual_seed(seed)
    size = num_items // num_clusters
    cluster = torch.arange(num_users) % num_clusters
    chosen = torch.rand(num_users, size, generator=gen).argsort(1)[:, :14]
    items = chosen + (cluster * size).view(-1, 1)
    user = torch.arange(num_users).view(-1, 1).expand_as(items)
    train = torch.stack([user[:, :10].reshape(-1), items[:, :10].reshape(-1)])
    test = torch.stack([user[:, 10:].reshape(-1), items[:, 10:].reshape(-1)])
    return train, test


def brute_force_recall(user_emb, item_emb, train, test, k=20):
    scores = user_emb @ item_emb.t()
    scores[train[0], train[1]] = float('-inf')
    top = scores.topk(k, dim=1).indices
    relevant = torch.zeros_like(scores, dtype=torch.bool)
    relevant[test[0], test[1]] = True
    hits = relevant.gather(1, top).sum(1).float()
    return float((hits / relevant.sum(1)).mean())


@pytest.mark.parametrize('cls,kwargs', [
    (MFBPR, dict(num_layers=2, reg_weight=1e-4)),
    (PyGLightGCN, dict(num_layers=2, reg_weight=1e-4)),
])
def test_short_training_beats_random(cls, kwargs):
    torch.manual_seed(0)
    train, test = planted_split()
    model = cls(80, 160, dim=16, **kwargs)
    if cls is PyGLightGCN:
        model.set_graph(train)
    sampler = NegativeSampler(train, 80, 160)
    gen = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(12):
        for batch in sampler.epoch_batches(100, gen):
            optimizer.zero_grad()
            model.loss(batch)[0].backward()
            optimizer.step()

    with torch.no_grad():
        recall = brute_force_recall(*model.embeddings(train), train, test)
    # A random ranking of the 150 unseen items puts 20/150 of the test
    # items in the top 20; the 30 unseen items of the own cluster hold all.
    random_level = 20 / 150
    assert recall > 3 * random_level, recall


@pytest.mark.parametrize('cls', [MFBPR, PyGLightGCN])
def test_models_train_through_the_trainer(cls):
    # PyGLightGCN gets its graph lazily from the Trainer's set_graph hook.
    from torch_geometric.data import HeteroData

    from torch_geometric_infodcl.train import TrainConfig, Trainer

    train, test = planted_split()
    data = HeteroData()
    data['user'].num_nodes, data['item'].num_nodes = 80, 160
    store = data['user', 'interacts', 'item']
    # Split each user's 4 held-out items into 2 validation and 2 test items.
    held_out = test.view(2, 80, 4)
    store.edge_index = train
    store.val_edge_index = held_out[:, :, :2].reshape(2, -1)
    store.test_edge_index = held_out[:, :, 2:].reshape(2, -1)

    torch.manual_seed(0)
    model = cls(80, 160, dim=16, num_layers=2)
    result = Trainer(model, data, TrainConfig(
        epochs=10, batch_size=100, lr=0.02, eval_every=5, ks=(20, ),
        progress=False)).fit()
    assert result['test']['recall@20'] > 3 * 20 / 150
