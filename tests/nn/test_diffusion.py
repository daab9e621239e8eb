import math

import numpy as np
import pytest
import torch
from torch_geometric.nn.encoding import PositionalEncoding

from torch_geometric_infodcl.nn.diffusion import (
    DiffusionDenoiser,
    beta_schedule,
    timestep_embedding,
)

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def test_exp_schedule_values():
    betas = beta_schedule('exp', 200)
    assert betas.shape == (200, ) and betas.dtype == torch.float64
    # beta_0 = 1 - exp(-0.1/200 - 1 * 9.9 / (2 * 200^2)), by hand.
    assert math.isclose(betas[0].item(), 1 - math.exp(-0.0005 - 0.00012375),
                        rel_tol=1e-12)
    assert math.isclose(betas[0].item(), 6.2e-4, rel_tol=0.01)
    assert math.isclose(betas[-1].item(), 0.0489, rel_tol=1e-3)
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    expected = torch.tensor([0.9994, 0.705, 0.267, 0.00625],
                            dtype=torch.float64)
    assert torch.allclose(alpha_bar[[0, 50, 100, 199]], expected, rtol=6e-3)


def test_linear_cosine_sqrt_schedules():
    linear = beta_schedule('linear', 5, beta_start=0.1, beta_end=0.5)
    assert torch.allclose(linear, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5],
                                               dtype=torch.float64))

    T, s = 100, 0.008
    f = [math.cos((t / T + s) / (1 + s) * math.pi / 2)**2 for t in (0, 10)]
    alpha_bar = torch.cumprod(1 - beta_schedule('cosine', T), dim=0)
    assert math.isclose(alpha_bar[9].item(), f[1] / f[0], rel_tol=1e-10)
    assert beta_schedule('cosine', T)[-1].item() == 0.999  # clipped

    sqrt = beta_schedule('sqrt', 200)
    first = 1 - (1 - math.sqrt(1 / 200 + 1e-4)) / (1 - math.sqrt(1e-4))
    assert math.isclose(sqrt[0].item(), first, rel_tol=1e-10)
    assert sqrt.max().item() == 0.999 and (sqrt > 0).all()


def test_schedule_errors():
    with pytest.raises(ValueError, match=r"Unknown beta schedule 'quad' "
                       r"\(valid: linear, cosine, exp, sqrt\)"):
        beta_schedule('quad', 10)
    with pytest.raises(ValueError, match="'num_steps' must be a positive"):
        beta_schedule('exp', 0)
    with pytest.raises(ValueError, match='beta_start <= beta_end'):
        beta_schedule('linear', 10, beta_start=0.5, beta_end=0.1)


def test_timestep_embedding_equals_pyg_positional_encoding():
    t = torch.tensor([0, 1, 17, 199])
    # float32 angles up to 199 rad carry ~1e-5 rounding in either version.
    assert torch.allclose(timestep_embedding(t, 64), PositionalEncoding(64)(
        t.float()), atol=5e-5)
    odd = timestep_embedding(t, 7)
    assert odd.shape == (4, 7) and (odd[:, -1] == 0).all()
    assert torch.allclose(odd[:, :6], PositionalEncoding(6)(t.float()),
                          atol=1e-6)
    assert timestep_embedding(t, 8, torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match=r"'t' must be 1-D \(got shape "
                       r"\(2, 2\)\)"):
        timestep_embedding(t.view(2, 2), 8)


def test_schedule_buffers_match_numpy_reference():
    model = DiffusionDenoiser(8, num_steps=50, schedule='linear')
    b = np.linspace(1e-4, 0.02, 50)
    a = 1 - b
    ab = np.cumprod(a)
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    expected = {
        'betas': b,
        'alphas_cumprod': ab,
        'sqrt_alphas_cumprod': np.sqrt(ab),
        'sqrt_one_minus_alphas_cumprod': np.sqrt(1 - ab),
        'posterior_mean_coef1': b * np.sqrt(ab_prev) / (1 - ab),
        'posterior_mean_coef2': (1 - ab_prev) * np.sqrt(a) / (1 - ab),
        'posterior_variance': b * (1 - ab_prev) / (1 - ab),
    }
    for name, value in expected.items():
        buffer = getattr(model, name)
        assert buffer.dtype == torch.float32
        assert np.allclose(buffer.numpy(), value, rtol=1e-6, atol=0), name


def test_q_sample_accepts_any_noise():
    model = DiffusionDenoiser(4, num_steps=200)
    x0 = torch.randn(3, 4)
    noise = torch.arange(12.).view(3, 4)  # deliberately non-Gaussian
    t = torch.tensor([0, 100, 199])
    ab = torch.cumprod(1 - beta_schedule('exp', 200), 0)[t].float()
    expected = ab.sqrt()[:, None] * x0 + (1 - ab).sqrt()[:, None] * noise
    assert torch.allclose(model.q_sample(x0, t, noise), expected, atol=1e-6)


def reference_denoiser(model, x_t, t, c):
    tau = model.time_mlp(PositionalEncoding(model.dim)(t.float()))
    return model.net(torch.cat([x_t, c, tau], dim=-1))


@pytest.mark.parametrize('denoiser', ['mlp1', 'mlp2'])
def test_forward_matches_reference(denoiser):
    torch.manual_seed(0)
    model = DiffusionDenoiser(8, denoiser=denoiser, cond_dim=5)
    x_t, t, cond = torch.randn(6, 8), torch.randint(0, 200, (6, )), \
        torch.randn(6, 5)
    none = model.none_embedding.expand(6, -1)
    assert torch.allclose(model(x_t, t), reference_denoiser(
        model, x_t, t, none), atol=1e-6)
    assert torch.allclose(model(x_t, t, cond), reference_denoiser(
        model, x_t, t, model.cond_proj(cond)), atol=1e-6)
    assert len(model.net) == (1 if denoiser == 'mlp1' else 3)

    # More rows than steps takes the per-step table path.
    t_many = torch.randint(0, 200, (500, ))
    x_many = torch.randn(500, 8)
    assert torch.allclose(model(x_many, t_many), reference_denoiser(
        model, x_many, t_many, model.none_embedding.expand(500, -1)),
        atol=1e-5)

    same_dim = DiffusionDenoiser(8)  # cond of size dim is used as is
    assert same_dim.cond_proj is None
    cond8 = torch.randn(6, 8)
    assert torch.allclose(same_dim(x_t, t, cond8), reference_denoiser(
        same_dim, x_t, t, cond8), atol=1e-6)


def test_p_losses_pipeline_and_seeded_steps():
    torch.manual_seed(1)
    model = DiffusionDenoiser(8)
    x0, noise = torch.randn(10, 8), torch.randn(10, 8)
    t = torch.randint(0, 200, (10, ))
    x0_hat, loss = model.p_losses(x0, noise, t)
    expected = model(model.q_sample(x0, t, noise), t)
    assert torch.allclose(x0_hat, expected)
    assert torch.allclose(loss, ((expected - x0)**2).mean())

    # t=None draws t ~ U{0..T-1} from the global RNG.
    torch.manual_seed(2)
    t_drawn = torch.randint(0, 200, (10, ))
    torch.manual_seed(2)
    x0_hat, loss = model.p_losses(x0, noise)
    assert torch.equal(x0_hat, model.p_losses(x0, noise, t_drawn)[0])


def test_sampler_with_perfect_predictor_returns_x0(monkeypatch):
    torch.manual_seed(3)
    model = DiffusionDenoiser(8)
    x0 = torch.randn(16, 8)
    monkeypatch.setattr(model, 'forward', lambda x_t, t, cond=None: x0)
    assert torch.allclose(model.sample(torch.randn(16, 8)), x0, atol=1e-5)
    out = model.sample(torch.randn(16, 8), cond=torch.randn(16, 8))
    assert torch.allclose(out, x0, atol=1e-5)


def test_sampler_guidance_and_ancestral_step(monkeypatch):
    model = DiffusionDenoiser(4, num_steps=10, schedule='linear')
    cond_pred, uncond_pred = torch.full((3, 4), 2.0), torch.full((3, 4), 5.0)
    calls = []

    def fake_forward(x_t, t, cond=None):
        calls.append((int(t[0]), x_t.clone()))
        return uncond_pred if cond is None else cond_pred

    monkeypatch.setattr(model, 'forward', fake_forward)
    x_T, cond = torch.randn(3, 4), torch.randn(3, 4)

    # One step (t = 0): coef1 = 1, coef2 = 0, no noise -> the guided x0.
    out = model.sample(x_T, cond, guidance=0.5, num_steps=1)
    assert torch.allclose(out, 1.5 * cond_pred - 0.5 * uncond_pred)
    assert torch.allclose(model.sample(x_T, num_steps=1), uncond_pred)

    # Two steps: x_0 = mu_1 + sigma_1 z with z from the global RNG, then t=0.
    calls.clear()
    torch.manual_seed(4)
    out = model.sample(x_T, num_steps=2)
    assert [step for step, _ in calls] == [1, 0]
    torch.manual_seed(4)
    z = torch.randn(3, 4)
    b = torch.linspace(1e-4, 0.02, 10, dtype=torch.float64)
    ab = torch.cumprod(1 - b, 0)
    c1 = b[1] * ab[0].sqrt() / (1 - ab[1])
    c2 = (1 - ab[0]) * (1 - b[1]).sqrt() / (1 - ab[1])
    sigma = (b[1] * (1 - ab[0]) / (1 - ab[1])).sqrt()
    x_1 = c1 * uncond_pred + c2 * x_T + sigma * z
    assert torch.allclose(calls[1][1], x_1.float(), atol=1e-6)
    # The last step maps any x_1 to the prediction (coef1[0] = 1).
    assert torch.allclose(out, uncond_pred, atol=1e-6)
    assert model.posterior_variance[0] == 0


def test_sampler_runs_without_grad():
    torch.manual_seed(5)
    model = DiffusionDenoiser(8, num_steps=20)
    out = model.sample(torch.randn(5, 8), cond=torch.randn(5, 8))
    assert out.shape == (5, 8) and not out.requires_grad
    assert torch.isfinite(out).all()


def named_grads(model, rows, **kwargs):
    model.zero_grad(set_to_none=True)
    _, loss = model.p_losses(torch.randn(rows, model.dim), **kwargs)
    loss.backward()
    return {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize('rows', [12, 300])  # 300 > T: per-step table
@pytest.mark.parametrize('denoiser', ['mlp1', 'mlp2'])
def test_gradients_reach_parameters(denoiser, rows):
    torch.manual_seed(6)
    model = DiffusionDenoiser(8, denoiser=denoiser, cond_dim=5)
    grads = named_grads(model, rows)  # unconditional
    unused = {n for n, g in grads.items() if g is None}
    assert unused == {'cond_proj.weight', 'cond_proj.bias'}
    assert all(grads[n].abs().sum() > 0 for n in grads if n not in unused)

    grads = named_grads(model, rows, cond=torch.randn(rows, 5))
    unused = {n for n, g in grads.items() if g is None}
    assert unused == {'none_embedding'}
    assert all(grads[n].abs().sum() > 0 for n in grads if n not in unused)


@pytest.mark.parametrize('device', DEVICES)
def test_dtype_and_device_follow_module(device):
    torch.manual_seed(7)
    model = DiffusionDenoiser(8).to(device, torch.float64)
    assert model.alphas_cumprod.dtype == torch.float64
    assert model.betas.device.type == device
    x0 = torch.randn(4, 8, device=device, dtype=torch.float64)
    x0_hat, loss = model.p_losses(x0)
    assert x0_hat.dtype == loss.dtype == torch.float64
    assert x0_hat.device == x0.device
    assert model.sample(x0, num_steps=3).dtype == torch.float64


def test_reset_parameters_and_repr():
    model = DiffusionDenoiser(64, denoiser='mlp2', cond_dim=32)
    assert repr(model) == ("DiffusionDenoiser(64, num_steps=200, "
                           "schedule='exp', denoiser='mlp2')")
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)
    model.reset_parameters()
    for name, p in model.named_parameters():
        assert not torch.all(p == 0.5), name
    # "none" embedding ~ N(0, 1)
    assert 0.5 < model.none_embedding.std().item() < 1.5


def test_bad_input_errors():
    model = DiffusionDenoiser(8, num_steps=10, cond_dim=5)
    x, t = torch.randn(4, 8), torch.tensor([0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"Unknown denoiser 'mlp3' \(valid: "
                       r"mlp1, mlp2\)"):
        DiffusionDenoiser(8, denoiser='mlp3')
    with pytest.raises(ValueError, match=r"Unknown beta schedule 'foo'"):
        DiffusionDenoiser(8, schedule='foo')
    with pytest.raises(ValueError, match=r"'t' must lie in \[0, 9\] \(got "
                       r"values in \[0, 10\]\)"):
        model(x, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match=r"got values in \[-1, 3\]"):
        model.q_sample(x, torch.tensor([-1, 1, 2, 3]))
    with pytest.raises(TypeError, match="'t' must be an integer tensor"):
        model(x, t.float())
    with pytest.raises(ValueError, match=r"'t' must have shape \[4\] "
                       r"\(got \(3,\)\)"):
        model(x, t[:3])
    with pytest.raises(ValueError, match=r"'x_t' must have shape \[B, 8\] "
                       r"\(got \(4, 7\)\)"):
        model(torch.randn(4, 7), t)
    with pytest.raises(ValueError, match=r"'cond' must have shape \[4, 5\] "
                       r"\(got \(4, 8\)\)"):
        model(x, t, torch.randn(4, 8))
    with pytest.raises(ValueError, match=r"'noise' must have the shape of "
                       r"'x0' \(4, 8\) \(got \(4, 6\)\)"):
        model.p_losses(x, noise=torch.randn(4, 6))
    with pytest.raises(TypeError, match="'noise' must be a tensor of the "
                       "dtype of 'x0'"):
        model.q_sample(x, t, torch.randn(4, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="'x0' must be a floating-point"):
        model.p_losses(torch.ones(4, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"'num_steps' must be an integer in "
                       r"\[1, 10\] \(got 11\)"):
        model.sample(x, num_steps=11)
    with pytest.raises(ValueError, match=r"'cond' must have shape \[4, 5\]"):
        model.sample(x, cond=torch.randn(3, 5))


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_input_raises_like_psnet(bad):
    # Issue 12: p_losses returned NaN for NaN input where PSNetNoise and
    # LightGCNInference raise; every entry point now names the bad row.
    model = DiffusionDenoiser(8, num_steps=10, cond_dim=5)
    x, t = torch.randn(4, 8), torch.tensor([0, 1, 2, 3])
    broken = x.clone()
    broken[2, 5] = bad
    message = r"holds NaN or inf values \(first in row 2\)"
    with pytest.raises(ValueError, match="'x0' " + message):
        model.p_losses(broken)
    with pytest.raises(ValueError, match="'noise' " + message):
        model.p_losses(x, noise=broken)
    with pytest.raises(ValueError, match="'x0' " + message):
        model.q_sample(broken, t)
    with pytest.raises(ValueError, match="'x_t' " + message):
        model(broken, t)
    with pytest.raises(ValueError, match="'cond' " + message):
        model(x, t, broken[:, 1:6])
    with pytest.raises(ValueError, match="'x_T' " + message):
        model.sample(broken)
