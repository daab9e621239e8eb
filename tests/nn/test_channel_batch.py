import pytest
import torch

from torch_geometric_infodcl.nn.channel_batch import (
    denoise_channels,
    psnet_channels,
)
from torch_geometric_infodcl.nn.diffusion import DiffusionDenoiser
from torch_geometric_infodcl.nn.psnet import PSNetNoise, safe_svd

ATOL = 1e-5


def _grads(modules, inputs):
    return [p.grad.clone() for m in modules for p in m.parameters()] + \
        [x.grad.clone() for x in inputs]


def _zero(modules, inputs):
    for m in modules:
        m.zero_grad(set_to_none=True)
    for x in inputs:
        x.grad = None


def _assert_close_lists(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.allclose(x, y, atol=ATOL, rtol=ATOL), (x - y).abs().max()


def test_batched_safe_svd_matches_each_matrix():
    y = torch.randn(3, 40, 6, dtype=torch.float64, requires_grad=True)
    U, s, V = safe_svd(y)
    assert U.shape == (3, 40, 6) and s.shape == (3, 6) and V.shape == (3, 6, 6)
    w = [torch.randn_like(t) for t in (U, s, V)]
    sum((t * g).sum() for t, g in zip((U, s, V), w)).backward()
    for c in range(3):
        yc = y[c].detach().requires_grad_()
        Uc, sc, Vc = safe_svd(yc)
        _assert_close_lists([U[c], s[c], V[c]], [Uc, sc, Vc])
        sum((t * g[c]).sum() for t, g in zip((Uc, sc, Vc), w)).backward()
        assert torch.allclose(y.grad[c], yc.grad, atol=1e-10)
    # One zero matrix in the batch does not disturb the others.
    z = torch.cat([torch.zeros(1, 40, 6, dtype=torch.float64),
                   y.detach()[:1]])
    _, s_z, _ = safe_svd(z)
    assert s_z[0].eq(0).all() and torch.allclose(s_z[1], s[0])


@pytest.mark.parametrize('meta_dims,rank,batch', [
    ((5, 5), None, 50),   # equal widths: one batched projection
    ((5, 3), None, 50),   # different widths
    (None, 4, 50),        # no metadata, truncated rank
    ((5, 5), None, 6),    # fewer rows than dim: zero-padded U and s
])
def test_psnet_channels_match_per_channel_modules(meta_dims, rank, batch):
    torch.manual_seed(0)
    dim, C = 8, 2
    psnets = [PSNetNoise(dim, metadata_dim=None if meta_dims is None else
                         meta_dims[c], rank=rank) for c in range(C)]
    for m in psnets:
        m.eval()  # dropout draws differ between the two orders
    noise = torch.randn(C, batch, dim, requires_grad=True)
    meta = (None if meta_dims is None else
            [torch.randn(batch, d, requires_grad=True) for d in meta_dims])
    inputs = [noise] + (meta or [])
    weight = torch.randn(C, batch, dim)

    ref = torch.stack([m(noise[c], None if meta is None else meta[c])
                       for c, m in enumerate(psnets)])
    (ref * weight).sum().backward()
    ref_grads = _grads(psnets, inputs)
    _zero(psnets, inputs)

    out = psnet_channels(psnets, noise, meta)
    (out * weight).sum().backward()
    assert torch.allclose(out, ref, atol=ATOL, rtol=ATOL)
    _assert_close_lists(_grads(psnets, inputs), ref_grads)


@pytest.mark.parametrize('denoiser,batch', [('mlp1', 30), ('mlp2', 30),
                                            ('mlp1', 80)])
def test_denoise_channels_match_p_losses(denoiser, batch):
    # batch 80 > 50 steps takes the gather-per-step path.
    torch.manual_seed(0)
    dim, C = 8, 3
    denoisers = [DiffusionDenoiser(dim, num_steps=50, denoiser=denoiser)
                 for _ in range(C)]
    x0 = torch.randn(batch, dim, requires_grad=True)
    noise = torch.randn(C, batch, dim, requires_grad=True)
    t = torch.randint(0, 50, (C, batch))
    weight = torch.randn(C, batch, dim)

    pairs = [m.p_losses(x0, noise[c], t[c]) for c, m in enumerate(denoisers)]
    ref = torch.stack([p[0] for p in pairs])
    ref_loss = torch.stack([p[1] for p in pairs])
    ((ref * weight).sum() + ref_loss.sum()).backward()
    ref_grads = _grads(denoisers, [x0, noise])
    _zero(denoisers, [x0, noise])

    out, loss = denoise_channels(denoisers, x0, noise, t)
    ((out * weight).sum() + loss.sum()).backward()
    assert torch.allclose(out, ref, atol=ATOL, rtol=ATOL)
    assert torch.allclose(loss, ref_loss, atol=ATOL, rtol=ATOL)
    _assert_close_lists(_grads(denoisers, [x0, noise]), ref_grads)


def test_channel_batch_errors():
    psnets = [PSNetNoise(8, metadata_dim=4), PSNetNoise(8, metadata_dim=4,
                                                        rank=3)]
    with pytest.raises(ValueError, match='share one configuration'):
        psnet_channels(psnets, torch.randn(2, 10, 8),
                       [torch.randn(10, 4)] * 2)
    psnets = [PSNetNoise(8, metadata_dim=4)] * 2
    with pytest.raises(ValueError, match=r"'noise' must have shape \[C=2"):
        psnet_channels(psnets, torch.randn(3, 10, 8),
                       [torch.randn(10, 4)] * 2)
    with pytest.raises(ValueError, match='one batch per channel'):
        psnet_channels(psnets, torch.randn(2, 10, 8), [torch.randn(10, 4)])
    with pytest.raises(ValueError, match='metadata'):
        psnet_channels(psnets, torch.randn(2, 10, 8),
                       [torch.randn(9, 4)] * 2)
    with pytest.raises(ValueError, match='no channel'):
        psnet_channels([], torch.randn(0, 10, 8))
    denoisers = [DiffusionDenoiser(8, num_steps=10)] * 2
    with pytest.raises(ValueError, match="'t' must lie in"):
        denoise_channels(denoisers, torch.randn(5, 8), torch.randn(2, 5, 8),
                         torch.full((2, 5), 10))
    with pytest.raises(ValueError, match="'noise' must have shape"):
        denoise_channels(denoisers, torch.randn(5, 8), torch.randn(5, 8),
                         torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(TypeError, match='DiffusionDenoiser'):
        denoise_channels([torch.nn.Linear(2, 2)], torch.randn(5, 8),
                         torch.randn(1, 5, 8), torch.zeros(1, 5,
                                                          dtype=torch.long))
