import pytest
import torch
import torch.nn.functional as F

from torch_geometric_infodcl.nn.psnet import PSNetNoise, _dropout, safe_svd

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def sign_fixed_torch_svd(y):
    # Independent reference: LAPACK's SVD, with the documented convention
    # that the largest-|.| entry of each right singular vector is positive.
    U, s, Vh = torch.linalg.svd(y, full_matrices=False)
    V = Vh.mT
    sign = V.gather(0, V.abs().argmax(0, keepdim=True)).sign()
    return U * sign, s, V * sign


def random_functional(B, d, k, seed=0):
    gen = torch.Generator().manual_seed(seed)
    W = [torch.randn(*shape, generator=gen, dtype=torch.float64)
         for shape in ((B, k), (k, ), (d, k))]
    return lambda U, s, V: (U * W[0]).sum() + (s * W[1]).sum() + (V *
                                                                  W[2]).sum()


@pytest.mark.parametrize('B,d', [(12, 5), (6, 6), (4, 7), (1, 6)])
def test_safe_svd_matches_torch_svd(B, d):
    torch.manual_seed(B * d)
    y = torch.randn(B, d, dtype=torch.float64, requires_grad=True)
    loss_fn = random_functional(B, d, min(B, d))

    U, s, V = safe_svd(y)
    U_ref, s_ref, V_ref = sign_fixed_torch_svd(y)
    assert torch.allclose(s, s_ref, atol=1e-12)
    assert torch.allclose(U, U_ref, atol=1e-10)
    assert torch.allclose(V, V_ref, atol=1e-10)

    grad, = torch.autograd.grad(loss_fn(U, s, V), y)
    grad_ref, = torch.autograd.grad(loss_fn(U_ref, s_ref, V_ref), y)
    assert torch.allclose(grad, grad_ref, atol=1e-9)
    assert torch.autograd.gradcheck(safe_svd, (y.detach().requires_grad_(), ))


def test_safe_svd_float32_is_accurate():
    torch.manual_seed(0)
    y = torch.randn(300, 16) * torch.logspace(0, -3, 16)  # cond. ~ 1e3
    U, s, V = safe_svd(y)
    assert U.dtype == s.dtype == V.dtype == torch.float32
    U_ref, s_ref, V_ref = sign_fixed_torch_svd(y.double())
    assert torch.allclose(s.double(), s_ref, rtol=1e-5)
    assert torch.allclose(V.double(), V_ref, atol=1e-4)
    assert torch.allclose(U.double(), U_ref, atol=1e-3)
    # Sign convention: the largest-|.| entry of each column of V is positive.
    assert (V.gather(0, V.abs().argmax(0, keepdim=True)) > 0).all()


def orthogonal_columns(B, d, scale=3.0):
    Q, _ = torch.linalg.qr(torch.randn(B, d, dtype=torch.float64))
    return scale * Q  # all singular values equal to `scale`


def degenerate_inputs():
    torch.manual_seed(1)
    rank3 = torch.randn(40, 3) @ torch.randn(3, 16)
    return {
        'repeated': orthogonal_columns(40, 16).float(),
        'rank_deficient': rank3,
        'zero': torch.zeros(40, 16),
        'batch_below_dim': torch.randn(8, 64),
        'single_row': torch.randn(1, 64),
    }


@pytest.mark.parametrize('case', list(degenerate_inputs()))
def test_safe_svd_degenerate_inputs_stay_finite(case):
    y = degenerate_inputs()[case].requires_grad_()
    U, s, V = safe_svd(y)
    assert torch.isfinite(U).all() and torch.isfinite(s).all()
    assert torch.isfinite(V).all()
    assert torch.allclose(U @ torch.diag(s) @ V.t(), y, atol=1e-4)
    loss = random_functional(*y.shape, s.numel())(U.double(), s.double(),
                                                  V.double())
    grad, = torch.autograd.grad(loss, y)
    assert torch.isfinite(grad).all()


def test_safe_svd_repeated_values_exact_invariant_gradients():
    torch.manual_seed(2)
    y = orthogonal_columns(30, 6).requires_grad_()
    # torch.linalg.svd's own backward is not finite here:
    U_t, s_t, Vh_t = torch.linalg.svd(y, full_matrices=False)
    g_t, = torch.autograd.grad(U_t.sum() + Vh_t.sum(), y)
    assert not torch.isfinite(g_t).all()

    U, s, V = safe_svd(y)
    assert torch.allclose(s, torch.full_like(s, 3.0))
    # Spectral functions of y have well-defined gradients even with repeated
    # singular values: d(sum s^2) = 2y and d(sum s) = U V^T.
    grad, = torch.autograd.grad((s * s).sum(), y, retain_graph=True)
    assert torch.allclose(grad, 2 * y, atol=1e-10)
    grad, = torch.autograd.grad(s.sum(), y)
    assert torch.allclose(grad, U @ V.t(), atol=1e-10)


def test_safe_svd_repeated_values_drop_gap_terms():
    torch.manual_seed(11)
    y = orthogonal_columns(30, 6).requires_grad_()
    W_U, w_s, W_V = (torch.randn(30, 6, dtype=torch.float64),
                     torch.randn(6, dtype=torch.float64),
                     torch.randn(6, 6, dtype=torch.float64))
    U, s, V = safe_svd(y)
    loss = (U * W_U).sum() + (s * w_s).sum() + (V * W_V).sum()
    grad, = torch.autograd.grad(loss, y)
    # Every 1/(s_k^2 - s_j^2) is masked, so only the diagonal and the
    # (I - U U^T) gU S^-1 terms of the SVD backward remain.
    P_perp = torch.eye(30, dtype=torch.float64) - U @ U.t()
    expected = U @ torch.diag(w_s) @ V.t() + P_perp @ W_U @ V.t() / 3.0
    assert torch.allclose(grad, expected, atol=1e-10)


def test_safe_svd_rank_deficient_gradient_is_local_derivative():
    # Perturbations far below the tolerance keep the zero singular values
    # zero, so the kept triplets and the zeroed U columns are smooth there.
    torch.manual_seed(12)
    y = (torch.randn(20, 2, dtype=torch.float64) @ torch.randn(
        2, 5, dtype=torch.float64)).requires_grad_()

    def kept_parts(a):
        U, s, V = safe_svd(a)
        return U[:, :2], s, V[:, :2], U[:, 2:]

    assert torch.autograd.gradcheck(kept_parts, (y, ), eps=1e-9, atol=1e-5)


def test_safe_svd_rank_deficient_values():
    torch.manual_seed(3)
    y = torch.randn(20, 2, dtype=torch.float64) @ torch.randn(
        2, 5, dtype=torch.float64)
    U, s, V = safe_svd(y)
    assert (s[2:] == 0).all() and (s[:2] > 0).all()
    assert (U[:, 2:] == 0).all()  # undefined columns are zeroed
    assert torch.allclose(s[:2], torch.linalg.svdvals(y)[:2], atol=1e-12)
    zero_U, zero_s, zero_V = safe_svd(torch.zeros(4, 3))
    assert (zero_U == 0).all() and (zero_s == 0).all()


def test_safe_svd_errors():
    with pytest.raises(ValueError, match=r"2-D matrix \(got shape \(5,\)\)"):
        safe_svd(torch.randn(5))
    with pytest.raises(TypeError, match='floating-point matrix'):
        safe_svd(torch.ones(3, 3, dtype=torch.long))
    y = torch.randn(6, 4)
    y[2, 1] = float('nan')
    with pytest.raises(ValueError, match=r'shape \(6, 4\) contains NaN'):
        safe_svd(y)


def reference_spectral_rectification(model, y):
    # Naive reference: LAPACK SVD, zero-padding, explicit concatenation.
    width = model.lin_u.in_features
    U, s, V = sign_fixed_torch_svd(y)
    k = min(s.numel(), width)
    U = torch.cat([U[:, :k], U.new_zeros(U.size(0), width - k)], dim=1)
    s = torch.cat([s[:k], s.new_zeros(width - k)])
    u_feat = model.lin_u(U)
    v_feat = model.lin_v(V[:, 0]).expand_as(u_feat)
    s_feat = model.lin_s2(torch.relu(model.lin_s1(s))).expand_as(u_feat)
    z = torch.cat([u_feat, v_feat, s_feat], dim=-1)
    return y + model.gamma * model.fuse2(F.gelu(model.fuse1(z)))


@pytest.mark.parametrize('B,rank', [(50, None), (5, None), (50, 3)])
def test_spectral_rectification_matches_reference(B, rank):
    torch.manual_seed(4)
    model = PSNetNoise(8, rank=rank).double()
    torch.nn.init.normal_(model.gamma)  # gamma = 1 would hide a mix-up
    y = torch.randn(B, 8, dtype=torch.float64)
    out = model.spectral_rectification(y)
    assert torch.allclose(out, reference_spectral_rectification(model, y),
                          atol=1e-10)


def fused_copy_of(encoder, model):
    # W = W_o W_v and b = W_o b_v + b_o: attention over one token is 1.
    d = model.dim
    for src, dst in zip(encoder.layers, model.reencode):
        W_v = src.self_attn.in_proj_weight[2 * d:]
        b_v = src.self_attn.in_proj_bias[2 * d:]
        W_o, b_o = src.self_attn.out_proj.weight, src.self_attn.out_proj.bias
        dst.value_out.weight.copy_(W_o @ W_v)
        dst.value_out.bias.copy_(W_o @ b_v + b_o)
        for name in ('lin1', 'lin2', 'norm1', 'norm2'):
            src_name = name.replace('lin', 'linear')
            getattr(dst, name).load_state_dict(
                getattr(src, src_name).state_dict())


def test_reencoding_equals_transformer_encoder():
    torch.manual_seed(5)
    layer = torch.nn.TransformerEncoderLayer(d_model=64, nhead=4,
                                             dim_feedforward=256,
                                             batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, num_layers=2,
                                          enable_nested_tensor=False)
    with torch.no_grad():  # PyTorch zero-inits these biases and LN affine
        for name, p in encoder.named_parameters():
            if 'bias' in name or 'norm' in name:
                p.add_(0.5 * torch.randn_like(p))
    model = PSNetNoise(64)
    with torch.no_grad():
        fused_copy_of(encoder, model)
    encoder.eval()
    model.eval()

    y = torch.randn(100, 64)
    with torch.no_grad():
        expected = encoder(y.unsqueeze(1)).squeeze(1) + y
        out = model.contextual_reencoding(y)
    assert torch.allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize('with_metadata', [True, False])
def test_forward_fuses_branches(with_metadata):
    torch.manual_seed(6)
    model = PSNetNoise(16, metadata_dim=8 if with_metadata else None).eval()
    with torch.no_grad():
        model.alpha.fill_(0.3)
        model.beta.fill_(-0.7)
    noise = torch.randn(40, 16)
    gate = 2 * torch.sigmoid(torch.tensor(0.3)) - 1
    with torch.no_grad():
        if with_metadata:
            metadata = torch.randn(40, 8)
            phi = model.metadata_proj(metadata)
            y = noise + phi
            expected = (model.spectral_rectification(y) + gate * phi -
                        0.7 * model.contextual_reencoding(y))
            out = model(noise, metadata)
        else:
            expected = (gate * model.spectral_rectification(noise) -
                        0.7 * model.contextual_reencoding(noise))
            out = model(noise)
    assert torch.allclose(out, expected, atol=1e-6)


def grads_after_step(model, noise, metadata=None):
    model.zero_grad(set_to_none=True)
    out = model(noise, metadata)
    weight = torch.randn_like(out)
    (out * weight).sum().backward()
    return {name: p.grad for name, p in model.named_parameters()}


def test_gradients_reach_parameters():
    torch.manual_seed(7)
    model = PSNetNoise(16, metadata_dim=12)
    noise, metadata = torch.randn(40, 16), torch.randn(40, 12)

    grads = grads_after_step(model, noise, metadata)
    for name, grad in grads.items():
        assert grad is not None and torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name

    # Without metadata only the metadata projection is unused.
    grads = grads_after_step(model, noise)
    unused = {name for name, grad in grads.items() if grad is None}
    assert unused == {'metadata_proj.weight', 'metadata_proj.bias'}
    assert all(grads[n].abs().sum() > 0 for n in grads if n not in unused)

    grads = grads_after_step(PSNetNoise(16), noise)
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values())


@pytest.mark.parametrize('case', list(degenerate_inputs()))
def test_psnet_degenerate_batches_stay_finite(case):
    y = degenerate_inputs()[case]
    torch.manual_seed(8)
    model = PSNetNoise(y.size(1), metadata_dim=4)
    # Gradients must pass the SVD: noise and metadata both require them.
    noise = y.clone().requires_grad_()
    metadata = torch.zeros(y.size(0), 4, requires_grad=True)
    for meta in (None, metadata):
        out = model(noise, meta)
        assert out.shape == y.shape and torch.isfinite(out).all()
        out.square().mean().backward()
        assert torch.isfinite(noise.grad).all()
        assert all(torch.isfinite(p.grad).all()
                   for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(metadata.grad).all()


def test_dropout_distribution():
    torch.manual_seed(13)
    x = torch.rand(400, 500) + 1.0  # no exact zeros before dropout
    out = _dropout(x, 0.1, training=True)
    dropped = out == 0
    # 200k Bernoulli(0.1) draws: std of the count is ~134; allow 5 std.
    assert abs(int(dropped.sum()) - 20000) < 670
    assert torch.allclose(out[~dropped], x[~dropped] / 0.9)
    assert _dropout(x, 0.1, training=False) is x
    assert _dropout(x, 0.0, training=True) is x


def test_deterministic_under_seed():
    def run():
        torch.manual_seed(9)
        model = PSNetNoise(16, metadata_dim=16).train()  # dropout active
        return model(torch.randn(30, 16), torch.randn(30, 16))

    first, second = run(), run()
    assert torch.equal(first, second)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_dtype_and_device_follow_input(device, dtype):
    torch.manual_seed(10)
    model = PSNetNoise(16, metadata_dim=4).to(device, dtype)
    noise = torch.randn(20, 16, device=device, dtype=dtype)
    out = model(noise, torch.randn(20, 4, device=device, dtype=dtype))
    assert out.dtype == dtype and out.device == noise.device
    out.sum().backward()
    assert model.lin_u.weight.grad.dtype == dtype


def test_reset_parameters_and_repr():
    model = PSNetNoise(64, metadata_dim=32, rank=16)
    assert repr(model) == 'PSNetNoise(64, metadata_dim=32, rank=16)'
    assert repr(PSNetNoise(8)) == 'PSNetNoise(8, metadata_dim=None, rank=None)'
    assert model.lin_u.in_features == model.lin_s1.in_features == 16
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.123)
    model.reset_parameters()
    assert torch.equal(model.gamma, torch.ones(1, 64))
    assert model.alpha.item() == 1.0 and model.beta.item() == 1.0
    assert not torch.all(model.lin_u.weight == 0.123)
    assert torch.equal(model.reencode[0].norm1.weight, torch.ones(64))


def test_bad_input_errors():
    model = PSNetNoise(8, metadata_dim=4)
    noise = torch.randn(5, 8)
    with pytest.raises(ValueError, match=r'shape \[B, 8\].*got \(8,\)'):
        model(torch.randn(8))
    with pytest.raises(ValueError, match=r'shape \[B, 8\].*got \(5, 7\)'):
        model(torch.randn(5, 7))
    with pytest.raises(TypeError, match="'noise' must be a floating-point"):
        model(torch.ones(5, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"'metadata' has 4 rows but 'noise' "
                       r"has 5 \(shapes \(4, 4\) and \(5, 8\)\)"):
        model(noise, torch.randn(4, 4))
    with pytest.raises(ValueError, match=r'shape \[B, 4\] \(got \(5, 3\)\)'):
        model(noise, torch.randn(5, 3))
    with pytest.raises(TypeError, match='dtype torch.float64 differs'):
        model(noise, torch.randn(5, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="built without 'metadata_dim'"):
        PSNetNoise(8)(noise, torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"'rank' must be an integer in "
                       r"\[1, dim=8\]"):
        PSNetNoise(8, rank=9)
    with pytest.raises(ValueError, match="'dim' must be a positive integer"):
        PSNetNoise(0)
