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
    kwargs.setdefault('num_views', 2)  # the two-view (SimGCL) form
    kwargs.setdefault('edge_index', tiny_graph())
    return GraphInfoDCL(NUM_USERS, NUM_ITEMS, dim=DIM, **kwargs)


def draws(model, batch, seed=3):
    g = torch.Generator().manual_seed(seed)
    n_u, n_i = batch.user.unique().numel(), batch.pos_item.unique().numel()
    sample = torch.rand if model.noise == 'uniform' else torch.randn
    views = model.num_views
    return {'user': sample(views, n_u, DIM, generator=g),
            'item': sample(views, n_i, DIM, generator=g)}


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


def reference_directions(model, h, side, ids, raw):
    if model.noise == 'uniform':
        return torch.sign(h) * raw / raw.norm(dim=-1, keepdim=True)
    if model.noise == 'gaussian':
        return raw / raw.norm(dim=-1, keepdim=True)
    meta = (torch.cat(list(tiny_metadata().values()), 1) if side == 'item'
            else reference_user_metadata(tiny_metadata(), tiny_graph()))
    views = raw.size(0)
    out = model.psnets[side](raw.reshape(-1, DIM),
                             meta[ids].repeat(views, 1))
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
    cl = denoise = torch.zeros(())
    for side, table, ids in (('user', user, batch.user.unique()),
                             ('item', item, batch.pos_item.unique())):
        h = table[ids]
        z = h + model.eps * h.norm(dim=-1, keepdim=True) * \
            reference_directions(model, h, side, ids, noise[side])
        if model.denoise:
            v = reference_denoiser(model.denoisers[side], z)
            denoise = denoise + 0.5 * ((v - h)**2).mean()
        else:
            v = z
        other = v[1] if model.num_views == 2 else h
        cl = cl + reference_info_nce(v[0], other, model.tau)
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
    assert float(terms['denoise']) > 0 if denoise else \
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
    ids = torch.arange(6) % NUM_ITEMS
    raw = draws(model, TrainBatch(ids, ids, ids))['item'][:, :6]
    z = model.perturb(h, 'item', ids, raw)
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
    ids = torch.tensor([0, 2, 3, 6])
    raw = torch.randn(2, 4, DIM)
    model = make_model()
    model.eval()
    z = model.perturb(h, 'item', ids, raw)
    model.item_metadata.mul_(-3.0)
    assert not torch.allclose(model.perturb(h, 'item', ids, raw), z)
    # Gaussian noise ignores the metadata altogether.
    gaussian = make_model(noise='gaussian')
    z = gaussian.perturb(h, 'item', ids, raw)
    gaussian.item_metadata.mul_(-3.0)
    assert torch.equal(gaussian.perturb(h, 'item', ids, raw), z)


def test_denoise_switch_only_adds_the_denoiser():
    batch = tiny_batch()
    on, off = make_model(denoise=True), make_model(denoise=False)
    off.load_state_dict(on.state_dict(), strict=False)
    on.eval()
    off.eval()
    h = torch.randn(3, DIM)
    ids = torch.tensor([0, 1, 2])
    raw = torch.randn(2, 3, DIM)
    z = off.perturb(h, 'user', ids, raw)
    assert torch.equal(off.views(h, 'user', ids, raw)[0], z)
    assert torch.allclose(on.views(h, 'user', ids, raw)[0],
                          reference_denoiser(on.denoisers['user'], z),
                          atol=1e-6)
    assert len(off.denoisers) == 0 and len(on.denoisers) == 2
    t_on, t_off = on.loss(batch, draws(on, batch))[1], \
        off.loss(batch, draws(off, batch))[1]
    assert torch.equal(t_on['rec'], t_off['rec'])
    assert float(t_off['denoise']) == 0 and float(t_on['denoise']) > 0


def test_contrast_off_skips_views():
    model = make_model(cl_weight=0.0)
    total, terms = model.loss(tiny_batch())
    assert float(terms['cl']) == 0 and float(terms['denoise']) == 0
    assert torch.allclose(total, terms['rec'] + model.reg_weight *
                          terms['reg'])


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
    for module in list(model.psnets.values()) + list(
            model.denoisers.values()):
        assert any(float(p.grad.abs().sum()) > 0
                   for p in module.parameters())


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
                          'noise=psnet, denoise=True, rec_loss=softmax)')


def test_without_metadata_psnet_runs_unconditioned():
    model = make_model(metadata=None)
    assert model.psnets['user'].metadata_proj is None
    total, _ = model.loss(tiny_batch())
    assert math.isfinite(float(total))


def test_bad_input_errors():
    with pytest.raises(ValueError, match="Unknown noise 'laplace'"):
        make_model(noise='laplace')
    with pytest.raises(ValueError, match="Unknown rec_loss"):
        make_model(rec_loss='hinge')
    with pytest.raises(ValueError, match="'eps' must be finite and >= 0"):
        make_model(eps=-0.1)
    with pytest.raises(ValueError, match="'tau' must be a positive finite number"):
        make_model(tau=0.0)
    with pytest.raises(ValueError, match="has 3 rows but there are 7 items"):
        make_model(metadata={'m': torch.randn(3, 2)})
    with pytest.raises(ValueError, match="holds NaN or inf"):
        make_model(metadata={'m': torch.full((NUM_ITEMS, 2), float('nan'))})
    with pytest.raises(ValueError, match="'skip_ego=True' needs"):
        make_model(skip_ego=True, num_layers=0)
    with pytest.raises(ValueError, match="column 0 has item id 9"):
        make_model(edge_index=torch.tensor([[0], [9]]))
    model = make_model(edge_index=None)
    with pytest.raises(ValueError, match="no training graph"):
        model.loss(tiny_batch())
    with pytest.raises(ValueError, match="'batch.user' contains the id 9"):
        make_model().loss(TrainBatch(torch.tensor([9]), torch.tensor([0]),
                                     torch.tensor([1])))
