import pytest
import torch
from torch_geometric import seed_everything
from torch_geometric.nn.models import LightGCN

from torch_geometric_infodcl.data.sampling import TrainBatch
from torch_geometric_infodcl.models.infodcl import InfoDCL
from torch_geometric_infodcl.nn.losses import info_nce_loss

NUM_USERS, NUM_ITEMS, DIM = 30, 40, 16


def make_batch(batch_size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TrainBatch(
        user=torch.randint(NUM_USERS, (batch_size, ), generator=g),
        pos_item=torch.randint(NUM_ITEMS, (batch_size, ), generator=g),
        neg_item=torch.randint(NUM_ITEMS, (batch_size, ), generator=g),
    )


def make_model(**kwargs):
    seed_everything(0)
    metadata = kwargs.pop('metadata', {
        'social': torch.randn(NUM_ITEMS, DIM),
        'knowledge': torch.randn(NUM_ITEMS, 8),
    })
    return InfoDCL(NUM_USERS, NUM_ITEMS, dim=DIM, metadata=metadata,
                   num_steps=50, **kwargs)


def make_graph(num_edges=120, seed=1):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.stack([
        torch.randint(NUM_USERS, (num_edges, ), generator=g),
        torch.randint(NUM_ITEMS, (num_edges, ), generator=g),
    ])
    return torch.unique(edge_index, dim=1)


def test_loss_is_weighted_sum_of_named_terms():
    model = make_model()
    total, terms = model.loss(make_batch())
    assert set(terms) == {'rec', 'cl', 'bpr', 'reg', 'bal'}
    w = model.weights
    expected = sum(w[name] * terms[name] for name in terms)
    assert torch.isfinite(total)
    assert torch.allclose(total, expected)
    # Every term is active in the default configuration.
    assert all(float(value) > 0 for value in terms.values())


def test_bpr_and_reg_terms_match_hand_computation():
    model = make_model()
    batch = make_batch()
    _, terms = model.loss(batch)
    u = model.user_emb.weight[batch.user]
    p = model.item_emb.weight[batch.pos_item]
    n = model.item_emb.weight[batch.neg_item]
    bpr = torch.nn.functional.softplus((u * n).sum(-1) - (u * p).sum(-1))
    reg = 0.5 * (u.pow(2).sum() + p.pow(2).sum()) / batch.user.numel()
    assert torch.allclose(terms['bpr'], bpr.mean(), atol=1e-6)
    assert torch.allclose(terms['reg'], reg, atol=1e-6)


def test_gradients_reach_every_learnable_parameter():
    model = make_model()
    total, _ = model.loss(make_batch())
    total.backward()
    missing = [
        name for name, param in model.named_parameters()
        if param.grad is None or param.grad.abs().sum() == 0
    ]
    # Only the (unused) conditional projection of an unconditional denoiser
    # may stay without gradient.
    assert all('cond' in name for name in missing), missing


def test_gaussian_noise_ablation_bypasses_psnet():
    model = make_model(noise='gaussian')
    total, _ = model.loss(make_batch())
    total.backward()
    for name, param in model.named_parameters():
        if name.startswith('psnets.'):
            assert param.grad is None, name


def test_ablation_switches_zero_their_terms():
    _, terms = make_model(contrastive=False).loss(make_batch())
    assert float(terms['cl']) == 0
    _, terms = make_model(balance='none').loss(make_batch())
    assert float(terms['bal']) == 0


def test_balance_norm_is_squared_norm_of_views():
    model = make_model()
    batch = make_batch()
    torch.manual_seed(3)
    views, _ = model.generate_views(batch.pos_item)
    torch.manual_seed(3)
    _, terms = model.loss(batch)
    # loss() draws its noise after the same number of RNG calls.
    expected = sum(v.pow(2).sum() for v in views) / batch.user.numel()
    assert torch.allclose(terms['bal'], expected, rtol=1e-5)


def test_ratio_balance_is_zero_at_reference_and_sets_refs():
    model = make_model(balance='ratio')
    _, terms = model.loss(make_batch())
    assert float(model.balance_refs[0]) > 0
    assert float(model.balance_refs[1]) > 0
    assert float(terms['bal']) == pytest.approx(0.0, abs=1e-6)


def test_each_channel_uses_its_own_metadata():
    model = make_model()
    pos = torch.arange(NUM_ITEMS)
    model.eval()  # no dropout inside PSNet
    torch.manual_seed(5)
    views_a, _ = model.generate_views(pos)
    model.metadata_knowledge.mul_(-3.0)
    torch.manual_seed(5)
    views_b, _ = model.generate_views(pos)
    assert torch.allclose(views_a[0], views_b[0])  # social channel unchanged
    assert not torch.allclose(views_a[1], views_b[1])


def test_duplicate_first_contrastive_counts_channel_one_twice():
    batch = make_batch()
    model = make_model()
    model.eval()
    torch.manual_seed(7)
    views, _ = model.generate_views(batch.pos_item)
    first = info_nce_loss(views[0], model.item_emb.weight, batch.pos_item,
                          tau=0.5)
    torch.manual_seed(7)
    _, once = model.loss(batch)
    model.duplicate_first_contrastive = True
    torch.manual_seed(7)
    _, twice = model.loss(batch)
    assert torch.allclose(twice['cl'] - once['cl'], first, rtol=1e-4)


def test_embeddings_equal_pyg_lightgcn_propagation():
    edge_index = make_graph()
    model = make_model(num_layers=3)
    user, item = model.embeddings(edge_index)

    pyg = LightGCN(NUM_USERS + NUM_ITEMS, DIM, num_layers=3)
    with torch.no_grad():
        pyg.embedding.weight.copy_(
            torch.cat([model.user_emb.weight, model.item_emb.weight]))
    homo = torch.stack([edge_index[0], edge_index[1] + NUM_USERS])
    homo = torch.cat([homo, homo.flip(0)], dim=1)
    expected = pyg.get_embedding(homo)
    assert torch.allclose(user, expected[:NUM_USERS], atol=1e-5)
    assert torch.allclose(item, expected[NUM_USERS:], atol=1e-5)

    raw_user, raw_item = make_model(propagate=False).embeddings(edge_index)
    assert torch.equal(raw_user, model.user_emb.weight)
    assert torch.equal(raw_item, model.item_emb.weight)


def test_train_layers_feed_propagated_tables_to_the_losses():
    edge_index = make_graph()
    model = make_model(train_layers=2, edge_index=edge_index)
    batch = make_batch()
    _, terms = model.loss(batch)
    user, item = model.train_propagation(
        (model.user_emb.weight, model.item_emb.weight), edge_index)
    u, p, n = user[batch.user], item[batch.pos_item], item[batch.neg_item]
    bpr = torch.nn.functional.softplus((u * n).sum(-1) - (u * p).sum(-1))
    assert torch.allclose(terms['bpr'], bpr.mean(), atol=1e-6)
    with pytest.raises(ValueError, match='edge_index'):
        make_model(train_layers=2)


def test_recommend_matches_brute_force_and_excludes():
    edge_index = make_graph()
    model = make_model()
    users = torch.tensor([0, 5, 7])
    top = model.recommend(edge_index, users, k=5, exclude_edge_index=edge_index)
    user, item = model.embeddings(edge_index)
    scores = user[users] @ item.t()
    for row, u in enumerate(users.tolist()):
        seen = edge_index[1, edge_index[0] == u]
        scores[row, seen] = float('-inf')
        assert not set(top[row].tolist()) & set(seen.tolist())
    assert torch.equal(top, scores.topk(5, dim=-1).indices)


def test_deterministic_under_seed():
    batch = make_batch()
    torch.manual_seed(11)
    a, _ = make_model().loss(batch)
    torch.manual_seed(11)
    b, _ = make_model().loss(batch)
    assert torch.equal(a, b)


def test_no_metadata_builds_one_plain_channel():
    model = make_model(metadata=None)
    assert model.channel_names == ['plain']
    total, _ = model.loss(make_batch())
    assert torch.isfinite(total)


def test_bad_input():
    with pytest.raises(ValueError, match='rows'):
        make_model(metadata=[torch.randn(NUM_ITEMS + 1, DIM)])
    with pytest.raises(ValueError, match='NaN'):
        make_model(metadata=[torch.full((NUM_ITEMS, DIM), float('nan'))])
    with pytest.raises(ValueError, match='Unknown noise'):
        make_model(noise='uniform')
    with pytest.raises(ValueError, match='Unknown balance'):
        make_model(balance='sqrt')
    with pytest.raises(TypeError, match='single tensor'):
        make_model(metadata=torch.randn(NUM_ITEMS, DIM))
    model = make_model()
    bad = make_batch()._replace(pos_item=torch.tensor([NUM_ITEMS] * 64))
    with pytest.raises(ValueError, match="'batch.pos_item' contains the id"):
        model.loss(bad)
    bad = make_batch()._replace(user=torch.zeros(64))
    with pytest.raises(TypeError, match='integer ids'):
        model.loss(bad)


def test_repr():
    assert repr(make_model()) == (
        "InfoDCL(30, 40, dim=16, channels=['social', 'knowledge'])")


@pytest.mark.parametrize('kwargs', [{}, {'negatives': 'in_batch'},
                                    {'noise': 'gaussian'},
                                    {'metadata': None, 'denoiser': 'mlp2'},
                                    {'duplicate_first_contrastive': True}])
def test_batched_channels_match_per_channel_modules(kwargs):
    # Dropout is PSNet's only train/eval difference and draws in another
    # order when batched: compared in eval mode, same seed, same draws.
    batch = make_batch()
    results = []
    for batched in (False, True):
        model = make_model(**kwargs)
        model.eval()
        model.batch_channels = batched
        seed_everything(3)
        total, terms = model.loss(batch)
        total.backward()
        results.append((total, terms, {n: p.grad for n, p in
                                        model.named_parameters()}))
    (ref, ref_terms, ref_grads), (out, out_terms, out_grads) = results
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)
    for name in ref_terms:
        assert torch.allclose(out_terms[name], ref_terms[name], atol=1e-5,
                              rtol=1e-5), name
    assert set(out_grads) == set(ref_grads)
    for name, grad in ref_grads.items():
        if grad is None:  # e.g. PSNet's parameters under Gaussian noise
            assert out_grads[name] is None, name
            continue
        assert torch.allclose(out_grads[name], grad, atol=1e-5,
                              rtol=1e-5), name


def test_contrastive_terms_one_logit_matrix_equals_per_view_calls():
    model = make_model()
    batch = make_batch()
    views = [torch.randn(64, DIM) for _ in range(2)]
    table = model.item_emb.weight
    terms = model.contrastive_terms(views, table, batch.pos_item)
    expected = torch.stack([info_nce_loss(v, table, batch.pos_item, tau=0.5)
                            for v in views])
    assert torch.allclose(terms, expected, atol=1e-5, rtol=1e-5)


def test_checkpoint_layout_keeps_per_channel_modules(tmp_path):
    from torch_geometric_infodcl.checkpoint import (
        load_checkpoint,
        save_checkpoint,
    )
    model = make_model()
    keys = set(model.state_dict())
    # The per-channel modules own the parameters (the layout of earlier
    # checkpoints); nothing stacked is stored.
    assert {'psnets.social.lin_u.weight', 'psnets.knowledge.alpha',
            'denoisers.social.net.0.weight', 'metadata_social'} <= keys
    assert not any('stack' in k for k in keys)
    path = str(tmp_path / 'model.pt')
    save_checkpoint(path, {'model': model.state_dict()})
    restored = make_model()
    torch.nn.init.zeros_(restored.psnets['social'].lin_u.weight)
    restored.load_state_dict(load_checkpoint(path)['model'])
    model.eval()
    restored.eval()
    batch = make_batch()
    seed_everything(1)
    expected = model.loss(batch)[0]
    seed_everything(1)
    assert torch.equal(restored.loss(batch)[0], expected)
