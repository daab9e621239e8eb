import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric import seed_everything

from torch_geometric_infodcl.data.sampling import TrainBatch
from torch_geometric_infodcl.models.graph_infodcl import GraphInfoDCL
from torch_geometric_infodcl.nn.diffusion import timestep_embedding

NUM_USERS, NUM_ITEMS, DIM, META_DIMS = 5, 7, 4, (3, 2)


def tiny_graph():
    # Every user and item has at least one edge; user 4 has one item only.
    return torch.tensor([[0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 0],
                         [0, 1, 1, 2, 3, 3, 4, 5, 6, 6, 6]])


def tiny_batch():
    # Users 0 and 1 appear twice, item 1 twice: the contrast is over the
    # unique ids.
    return TrainBatch(user=torch.tensor([0, 1, 1, 3, 0]),
                      pos_item=torch.tensor([1, 1, 2, 5, 6]),
                      neg_item=torch.tensor([4, 0, 5, 2, 3]))


def tiny_metadata(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {f'm{k}': torch.randn(NUM_ITEMS, d, generator=g)
            for k, d in enumerate(META_DIMS)}


def make_model(**kwargs):
    seed_everything(0)
    kwargs.setdefault('metadata', tiny_metadata())
    kwargs.setdefault('edge_index', tiny_graph())
    # The contrast is on in these tests (the default trains without it).
    kwargs.setdefault('cl_weight', 0.5)
    kwargs.setdefault('denoise', True)
    kwargs.setdefault('num_views', 2)
    return GraphInfoDCL(NUM_USERS, NUM_ITEMS, dim=DIM, **kwargs)


def draws(model, batch, seed=3):
    g = torch.Generator().manual_seed(seed)
    n = batch.user.unique().numel() + batch.pos_item.unique().numel()
    sample = torch.rand if model.noise == 'uniform' else torch.randn
    return sample(model.num_views, n, DIM, generator=g)


# Hand-written references ####################################################


def dense_propagation(user, item, edge_index, num_layers, skip_ego):
    num_nodes = NUM_USERS + NUM_ITEMS
    adj = torch.zeros(num_nodes, num_nodes)
    for u, i in edge_index.t().tolist():
        adj[u, NUM_USERS + i] += 1
        adj[NUM_USERS + i, u] += 1
    scale = adj.sum(1).pow(-0.5)
    adj = scale[:, None] * adj * scale[None, :]
    x = torch.cat([user, item])
    layers = [x]
    for _ in range(num_layers):
        layers.append(adj @ layers[-1])
    used = layers[1:] if skip_ego else layers
    out = torch.stack(used).mean(0)
    return out[:NUM_USERS], out[NUM_USERS:]


def cosine_matrix(a, b):
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).t()


def reference_info_nce(a, b, tau):
    logits = cosine_matrix(a, b) / tau
    return (torch.logsumexp(logits, 1) - logits.diagonal()).mean()


def reference_denoiser(module, z):
    # mlp1: one linear map of [z | none-embedding | time features of t=0].
    weight, bias = module.net[0].weight, module.net[0].bias
    t = timestep_embedding(torch.zeros(1, dtype=torch.long), DIM)
    time = module.time_mlp(t)
    w_z, w_c, w_t = weight.split(DIM, dim=1)
    return (z @ w_z.t() + module.none_embedding @ w_c.t() + time @ w_t.t() +
            bias)


def reference_user_metadata(metadata, edge_index):
    item_meta = torch.cat(list(metadata.values()), dim=1)
    rows = []
    for u in range(NUM_USERS):
        items = edge_index[1, edge_index[0] == u]
        rows.append(item_meta[items].mean(0))
    return torch.stack(rows)


def reference_directions(model, h, users, items, raw):
    if model.noise == 'uniform':
        return torch.sign(h) * raw / raw.norm(dim=-1, keepdim=True)
    if model.noise == 'gaussian':
        return raw / raw.norm(dim=-1, keepdim=True)
    # One PSNet call over the users' and the items' rows of every view.
    meta = torch.cat([
        reference_user_metadata(tiny_metadata(), tiny_graph())[users],
        torch.cat(list(tiny_metadata().values()), 1)[items]])
    views = raw.size(0)
    out = model.psnet(raw.reshape(-1, DIM), meta.repeat(views, 1))
    out = out.view(views, -1, DIM)
    return out / out.norm(dim=-1, keepdim=True)


def reference_loss(model, batch, noise):
    user, item = dense_propagation(model.user_emb.weight,
                                   model.item_emb.weight, tiny_graph(),
                                   model.num_layers, model.skip_ego)
    u = user[batch.user]
    if model.rec_loss == 'softmax':
        logits = cosine_matrix(u, item) / model.rec_tau
        rec = F.cross_entropy(logits, batch.pos_item)
    else:
        pos = (u * item[batch.pos_item]).sum(-1)
        neg = (u * item[batch.neg_item]).sum(-1)
        rec = -F.logsigmoid(pos - neg).mean()
    users, items = batch.user.unique(), batch.pos_item.unique()
    h = torch.cat([user[users], item[items]])
    z = h + model.eps * h.norm(dim=-1, keepdim=True) * \
        reference_directions(model, h, users, items, noise)
    denoise = torch.zeros(())
    if model.denoise:
        v = reference_denoiser(model.denoiser, z)
        denoise = ((v - h)**2).mean()
    else:
        v = z
    other = v[1] if model.num_views == 2 else h
    n_u = users.numel()
    cl = (reference_info_nce(v[0, :n_u], other[:n_u], model.tau) +
          reference_info_nce(v[0, n_u:], other[n_u:], model.tau))
    reg = 0.5 * (model.user_emb.weight[batch.user].pow(2).sum() +
                 model.item_emb.weight[batch.pos_item].pow(2).sum()) / 5
    total = (rec + model.cl_weight * cl + model.denoise_weight * denoise +
             model.reg_weight * reg)
    return total, dict(rec=rec, cl=cl, denoise=denoise, reg=reg)


# Tests ######################################################################


@pytest.mark.parametrize('noise', ['psnet', 'gaussian', 'uniform'])
@pytest.mark.parametrize('denoise', [True, False])
@pytest.mark.parametrize('rec_loss', ['softmax', 'bpr'])
@pytest.mark.parametrize('skip_ego, num_views', [(True, 2), (False, 1)])
def test_loss_matches_hand_written_reference(noise, denoise, rec_loss,
                                             skip_ego, num_views):
    model = make_model(noise=noise, denoise=denoise, rec_loss=rec_loss,
                       skip_ego=skip_ego, num_views=num_views,
                       num_layers=2, eps=0.3, tau=0.4,
                       rec_tau=0.25, cl_weight=0.7, denoise_weight=0.6,
                       reg_weight=0.05)
    model.eval()  # PSNet's dropout off: the reference calls it again.
    batch = tiny_batch()
    noise_draws = draws(model, batch)
    total, terms = model.loss(batch, noise_draws)
    ref_total, ref_terms = reference_loss(model, batch, noise_draws)
    for name, value in ref_terms.items():
        assert torch.allclose(terms[name], value, atol=1e-5), name
    assert torch.allclose(total, ref_total, atol=1e-5)
    assert float(terms['denoise'].detach()) > 0 if denoise else \
        float(terms['denoise']) == 0


def test_user_metadata_is_the_mean_over_training_items():
    model = make_model()
    expected = reference_user_metadata(tiny_metadata(), tiny_graph())
    assert torch.allclose(model.user_metadata, expected, atol=1e-6)
    # A user without training items gets zero metadata.
    graph = tiny_graph()[:, tiny_graph()[0] != 4]
    model.set_graph(graph)
    assert torch.equal(model.user_metadata[4], torch.zeros(sum(META_DIMS)))


@pytest.mark.parametrize('noise', ['psnet', 'gaussian', 'uniform'])
def test_every_perturbation_has_magnitude_eps_times_the_norm(noise):
    model = make_model(noise=noise, eps=0.17)
    h = torch.randn(6, DIM)
    meta = torch.randn(6, sum(META_DIMS))
    raw = (torch.rand if noise == 'uniform' else torch.randn)(2, 6, DIM)
    z = model.perturb(h, meta, raw)
    assert z.shape == (2, 6, DIM)
    expected = 0.17 * h.norm(dim=-1).expand(2, 6)
    assert torch.allclose((z - h).norm(dim=-1), expected, atol=1e-6)
    if noise == 'uniform':  # SimGCL: the noise stays in h's orthant.
        assert bool(((z - h) * torch.sign(h) >= 0).all())


def test_noise_switch_changes_only_the_contrastive_term():
    batch = tiny_batch()
    terms = {}
    for noise in ('psnet', 'gaussian', 'uniform'):
        model = make_model(noise=noise, denoise=False)
        terms[noise] = model.loss(batch, draws(model, batch))[1]
    for name in ('rec', 'reg', 'denoise'):
        assert torch.equal(terms['psnet'][name], terms['gaussian'][name])
        assert torch.equal(terms['psnet'][name], terms['uniform'][name])
    cl = [float(terms[noise]['cl']) for noise in terms]
    assert len(set(cl)) == 3


def test_psnet_noise_depends_on_the_metadata():
    h = torch.randn(4, DIM)
    meta = torch.randn(4, sum(META_DIMS))
    raw = torch.randn(2, 4, DIM)
    model = make_model()
    model.eval()
    z = model.perturb(h, meta, raw)
    assert not torch.allclose(model.perturb(h, -3 * meta, raw), z)
    # Gaussian noise ignores the metadata altogether.
    gaussian = make_model(noise='gaussian')
    assert torch.equal(gaussian.perturb(h, meta, raw),
                       gaussian.perturb(h, -3 * meta, raw))


def test_node_metadata_stacks_users_then_items():
    model = make_model()
    users, items = torch.tensor([1, 4]), torch.tensor([0, 6, 2])
    expected = torch.cat([
        reference_user_metadata(tiny_metadata(), tiny_graph())[users],
        torch.cat(list(tiny_metadata().values()), 1)[items]])
    assert torch.allclose(model.node_metadata(users, items), expected,
                          atol=1e-6)
    assert make_model(metadata=None).node_metadata(users, items) is None


def test_denoise_switch_only_adds_the_denoiser():
    batch = tiny_batch()
    on, off = make_model(denoise=True), make_model(denoise=False)
    off.load_state_dict(on.state_dict(), strict=False)
    on.eval()
    off.eval()
    h = torch.randn(3, DIM)
    meta = torch.randn(3, sum(META_DIMS))
    raw = torch.randn(2, 3, DIM)
    z = off.perturb(h, meta, raw)
    assert torch.equal(off.views(h, meta, raw)[0], z)
    assert torch.allclose(on.views(h, meta, raw)[0],
                          reference_denoiser(on.denoiser, z), atol=1e-6)
    assert off.denoiser is None and on.denoiser is not None
    t_on, t_off = on.loss(batch, draws(on, batch))[1], \
        off.loss(batch, draws(off, batch))[1]
    assert torch.equal(t_on['rec'], t_off['rec'])
    assert float(t_off['denoise']) == 0 and float(t_on['denoise']) > 0


def test_contrast_off_skips_views_and_builds_no_noise_modules():
    model = make_model(cl_weight=0.0)
    assert model.psnet is None and model.denoiser is None
    total, terms = model.loss(tiny_batch())
    assert float(terms['cl']) == 0 and float(terms['denoise']) == 0
    assert torch.allclose(total, terms['rec'] + model.reg_weight *
                          terms['reg'])
    # The default: no contrast, only the tables are learnable.
    default = GraphInfoDCL(NUM_USERS, NUM_ITEMS, dim=DIM,
                           edge_index=tiny_graph())
    assert default.cl_weight == 0.0
    assert sum(p.numel() for p in default.parameters()) == \
        (NUM_USERS + NUM_ITEMS) * DIM


@pytest.mark.parametrize('noise', ['psnet', 'gaussian', 'uniform'])
@pytest.mark.parametrize('denoise', [True, False])
def test_gradients_are_finite_and_reach_the_parameters(noise, denoise):
    model = make_model(noise=noise, denoise=denoise)
    total, _ = model.loss(tiny_batch())
    total.backward()
    for name, param in model.named_parameters():
        if 'cond_proj' in name:
            continue
        assert param.grad is not None, name
        assert bool(torch.isfinite(param.grad).all()), name
    # The contrast reaches the noise generator and the denoiser.
    for module in (model.psnet, model.denoiser):
        if module is not None:
            assert any(float(p.grad.abs().sum()) > 0
                       for p in module.parameters())
    assert (model.psnet is not None) == (noise == 'psnet')


def test_embeddings_are_the_clean_deterministic_propagation():
    for rec_loss in ('softmax', 'bpr'):
        model = make_model(rec_loss=rec_loss, skip_ego=True)
        model.eval()
        with torch.no_grad():
            torch.manual_seed(1)
            first = model.embeddings(tiny_graph())
            torch.manual_seed(2)
            second = model.embeddings(tiny_graph())
        assert torch.equal(first[0], second[0])
        assert torch.equal(first[1], second[1])
        user, item = dense_propagation(model.user_emb.weight,
                                       model.item_emb.weight, tiny_graph(),
                                       model.num_layers, True)
        if rec_loss == 'softmax':  # Scored by the cosine it was trained on.
            user, item = F.normalize(user, dim=-1), F.normalize(item, dim=-1)
        assert torch.allclose(first[0], user, atol=1e-6)
        assert torch.allclose(first[1], item, atol=1e-6)


def test_state_dict_round_trip_and_repr():
    model = make_model()
    clone = make_model()
    with torch.no_grad():
        for p in clone.parameters():
            p.add_(1.0)
    clone.load_state_dict(model.state_dict())
    for a, b in zip(model.parameters(), clone.parameters()):
        assert torch.equal(a, b)
    # The graph and the user metadata derived from it are not state.
    assert 'edge_index' not in model.state_dict()
    assert 'user_metadata' not in model.state_dict()
    assert str(model) == ('GraphInfoDCL(5, 7, dim=4, num_layers=3, '
                          'rec_loss=softmax, cl_weight=0.5, noise=psnet, '
                          'denoise=True)')


def test_without_metadata_psnet_runs_unconditioned():
    model = make_model(metadata=None)
    assert model.psnet.metadata_proj is None
    total, _ = model.loss(tiny_batch())
    assert math.isfinite(float(total))


def test_contrast_nodes_are_unique_sorted_and_capped():
    ids = torch.tensor([5, 3, 3, 9, 1, 5, 7])
    assert torch.equal(make_model().contrast_ids(ids),
                       torch.tensor([1, 3, 5, 7, 9]))
    capped = make_model(cl_nodes=3)
    for seed in range(5):
        torch.manual_seed(seed)
        out = capped.contrast_ids(ids)
        assert out.numel() == 3 and bool((out[1:] > out[:-1]).all())
        assert set(out.tolist()) <= {1, 3, 5, 7, 9}
    # The loss contrasts only the kept rows: noise of 3 + 3 rows fits.
    batch = tiny_batch()
    torch.manual_seed(0)
    capped.loss(batch, torch.randn(capped.num_views, 6, DIM))


def test_sampled_softmax_negatives():
    # Asking for the whole catalogue (or more) is the full softmax.
    assert make_model(negatives=NUM_ITEMS).negatives == 'full'
    assert make_model(negatives=10_000).negatives == 'full'
    model = make_model(negatives=3, cl_weight=0.0)
    full = make_model(negatives='full', cl_weight=0.0)
    torch.manual_seed(0)
    sampled = model.loss(tiny_batch())[1]['rec']
    # Fewer candidates: a smaller denominator, hence a smaller loss.
    assert float(sampled) < float(full.loss(tiny_batch())[1]['rec'])


def test_bad_input_errors():
    with pytest.raises(ValueError, match="Unknown noise 'laplace'"):
        make_model(noise='laplace')
    with pytest.raises(ValueError, match="Unknown rec_loss"):
        make_model(rec_loss='hinge')
    with pytest.raises(ValueError, match="'eps' must be finite and >= 0"):
        make_model(eps=-0.1)
    with pytest.raises(ValueError,
                       match="'tau' must be a positive finite number"):
        make_model(tau=0.0)
    with pytest.raises(ValueError, match="has 3 rows but there are 7 items"):
        make_model(metadata={'m': torch.randn(3, 2)})
    with pytest.raises(ValueError, match="holds NaN or inf"):
        make_model(metadata={'m': torch.full((NUM_ITEMS, 2), float('nan'))})
    with pytest.raises(ValueError, match="'negatives' must be 'full'"):
        make_model(negatives=0)
    with pytest.raises(ValueError, match="'num_views' must be 1 or 2"):
        make_model(num_views=3)
    with pytest.raises(ValueError, match=r"'skip_ego=True' \(the default\) "
                       r"needs num_layers >= 1"):
        make_model(skip_ego=True, num_layers=0)
    with pytest.raises(ValueError, match="column 0 has item id 9"):
        make_model(edge_index=torch.tensor([[0], [9]]))
    with pytest.raises(ValueError, match=r"'noise' must have shape "
                       r"\[num_views, n_users \+ n_items, dim\] = "
                       r"\[2, 7, 4\] \(got \[2, 6, 4\]\)"):
        make_model().loss(tiny_batch(), torch.randn(2, 6, DIM))
    model = make_model(edge_index=None)
    with pytest.raises(ValueError, match="no training graph"):
        model.loss(tiny_batch())
    with pytest.raises(ValueError, match="'batch.user' contains the id 9"):
        make_model().loss(TrainBatch(torch.tensor([9]), torch.tensor([0]),
                                     torch.tensor([1])))


def test_one_cached_propagation_with_sparse_backward_serves_both_views(
        monkeypatch):
    import torch_geometric_infodcl.nn.lightgcn_inference as inference
    calls = {'norm': 0, 'spmm': 0, 'sparse_grad': 0}
    norm, spmm = inference.bipartite_gcn_norm, inference.spmm

    def counted_norm(*args, **kwargs):
        calls['norm'] += 1
        return norm(*args, **kwargs)

    def counted_spmm(mat, x, mat_t=None):
        calls['spmm'] += 1
        # The backward is the cached transpose, not a dense adjacency.
        assert mat.layout == torch.sparse_csr and mat_t is not None
        out = spmm(mat, x, mat_t)
        calls['sparse_grad'] += 'SparseMatmul' in type(out.grad_fn).__name__
        return out

    monkeypatch.setattr(inference, 'bipartite_gcn_norm', counted_norm)
    monkeypatch.setattr(inference, 'spmm', counted_spmm)
    model = make_model(num_views=2, num_layers=3)  # two views, 3 layers
    for step in range(2):
        total, _ = model.loss(tiny_batch())
        total.backward()
    # One propagation per step (users and items, 3 layers each) for the
    # recommendation loss and both views; the normalisation is built once.
    assert calls == {'norm': 1, 'spmm': 2 * 3 * 2, 'sparse_grad': 2 * 3 * 2}
