r"""InfoDCL's metadata channels evaluated together: every channel's
:class:`PSNetNoise` and :class:`DiffusionDenoiser` as one batched
computation over a leading channel dimension :math:`C`.

The per-channel modules own the parameters (so checkpoints keep their
layout) and stay the readable reference; the functions here stack their
weights at every call (a few small copies, differentiable) and run each
layer for all channels as one batched matrix product (:func:`torch.baddbmm`)
and the spectral rectification's SVD as one batched call, instead of a
Python loop of small kernels. They compute the same numbers as calling the
modules channel by channel.
"""
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import LayerNorm, Linear

from torch_geometric_infodcl.nn.diffusion import (
    DiffusionDenoiser,
    timestep_embedding,
)
from torch_geometric_infodcl.nn.psnet import PSNetNoise, _dropout, safe_svd


def _stack(modules: Sequence[torch.nn.Module],
           get: Callable[[torch.nn.Module], Tensor]) -> Tensor:
    return torch.stack([get(module) for module in modules])


def _linear(x: Tensor, layers: Sequence[Linear]) -> Tensor:
    r"""Channel :math:`c` of :obj:`x` (:obj:`[C, N, in]`) through
    :obj:`layers[c]`, for all channels in one :func:`torch.baddbmm`."""
    weight = _stack(layers, lambda lin: lin.weight)
    bias = _stack(layers, lambda lin: lin.bias)
    return torch.baddbmm(bias.unsqueeze(1), x, weight.mT)


def _layer_norm(x: Tensor, norms: Sequence[LayerNorm]) -> Tensor:
    first = norms[0]
    out = F.layer_norm(x, first.normalized_shape, eps=first.eps)
    weight = _stack(norms, lambda norm: norm.weight).unsqueeze(1)
    bias = _stack(norms, lambda norm: norm.bias).unsqueeze(1)
    return torch.addcmul(bias, out, weight)


def _scalars(modules: Sequence[torch.nn.Module],
             get: Callable[[torch.nn.Module], Tensor]) -> Tensor:
    r"""One scalar parameter per channel, shaped :obj:`[C, 1, 1]`."""
    return _stack(modules, get).view(-1, 1, 1)


def _psnet_config(m: PSNetNoise) -> Tuple:
    layer = m.reencode[0] if len(m.reencode) else None
    return (m.dim, m.rank, len(m.reencode), m.training,
            None if layer is None else (layer.lin1.out_features,
                                        layer.dropout))


def _denoiser_config(m: DiffusionDenoiser) -> Tuple:
    return (repr(m), m.training)


def check_channels(modules: Sequence[torch.nn.Module], kind: type,
                   name: str, config: Callable[[torch.nn.Module],
                                               Tuple]) -> None:
    r"""Checks that :obj:`modules` is a non-empty sequence of :obj:`kind`
    whose :obj:`config` (the sizes stacking needs) agree."""
    if len(modules) == 0:
        raise ValueError(f"'{name}' holds no channel")
    for module in modules:
        if not isinstance(module, kind):
            raise TypeError(f"'{name}' must hold {kind.__name__} modules "
                            f"(got {type(module).__name__})")
    configs = {config(module) for module in modules}
    if len(configs) != 1:
        raise ValueError(f"the channels of '{name}' must share one "
                         f"configuration and mode to be batched (got "
                         f"{sorted(map(str, configs))})")


def psnet_channels(psnets: Sequence[PSNetNoise], noise: Tensor,
                   metadata: Optional[Sequence[Tensor]] = None) -> Tensor:
    r"""Informative noise of every channel at once: channel :math:`c` is
    :obj:`psnets[c](noise[c], metadata[c])`.

    Args:
        psnets ([PSNetNoise]): One module per channel, all with the same
            :obj:`dim`, :obj:`rank`, re-encoding depth and dropout.
        noise (torch.Tensor): Gaussian noise :obj:`[C, B, dim]`.
        metadata ([torch.Tensor], optional): One :obj:`[B, d_c]` metadata
            batch per channel (their widths may differ), or :obj:`None` for
            modules built without metadata. (default: :obj:`None`)

    Shapes:
        - **output:** :obj:`[C, B, dim]`
    """
    _check_psnet_inputs(psnets, noise, metadata)
    gate = 2 * torch.sigmoid(_scalars(psnets, lambda m: m.alpha)) - 1
    beta = _scalars(psnets, lambda m: m.beta)
    if metadata is None:
        y = noise
        return (gate * _spectral_rectification(psnets, y) +
                beta * _contextual_reencoding(psnets, y))
    phi = _metadata_projection(psnets, metadata)
    y = noise + phi
    return (_spectral_rectification(psnets, y) + gate * phi +
            beta * _contextual_reencoding(psnets, y))


def _check_psnet_inputs(psnets: Sequence[PSNetNoise], noise: Tensor,
                        metadata: Optional[Sequence[Tensor]]) -> None:
    check_channels(psnets, PSNetNoise, 'psnets', _psnet_config)
    if not isinstance(noise, Tensor) or noise.dim() != 3 or \
            noise.size(0) != len(psnets):
        raise ValueError(f"'noise' must have shape [C={len(psnets)}, B, dim] "
                         f"(got {tuple(getattr(noise, 'shape', ()))})")
    if metadata is not None and len(metadata) != len(psnets):
        raise ValueError(f"'metadata' must hold one batch per channel "
                         f"({len(psnets)}), got {len(metadata)}")
    # The modules check their inputs: one home for each rule.
    for c, psnet in enumerate(psnets):
        psnet._check_inputs(noise[c],
                            None if metadata is None else metadata[c])


def _metadata_projection(psnets: Sequence[PSNetNoise],
                         metadata: Sequence[Tensor]) -> Tensor:
    projections = [psnet.metadata_proj for psnet in psnets]
    if len({m.size(-1) for m in metadata}) == 1:
        return _linear(torch.stack(list(metadata)), projections)
    # Channels of different widths: one product each.
    return torch.stack([lin(m) for lin, m in zip(projections, metadata)])


def _spectral_rectification(psnets: Sequence[PSNetNoise], y: Tensor) -> Tensor:
    # PSNetNoise.spectral_rectification, with a channel dimension in front.
    U, s, V = safe_svd(y)
    first = psnets[0]
    dim, width = first.dim, first.lin_u.in_features
    k = min(s.size(-1), width)
    s = F.pad(s[..., :k], (0, width - k))

    v_feat = _linear(V[..., :1].mT, [m.lin_v for m in psnets])
    s_feat = _linear(F.relu(_linear(s.unsqueeze(1),
                                    [m.lin_s1 for m in psnets])),
                     [m.lin_s2 for m in psnets])

    fuse = _stack(psnets, lambda m: m.fuse1.weight)
    W_u, W_v, W_s = fuse.split(dim, dim=-1)
    lin_u_weight = _stack(psnets, lambda m: m.lin_u.weight[:, :k])
    lin_u_bias = _stack(psnets, lambda m: m.lin_u.bias).unsqueeze(-1)
    weight = W_u @ lin_u_weight
    bias = (W_u @ lin_u_bias + W_v @ v_feat.mT + W_s @ s_feat.mT).mT + \
        _stack(psnets, lambda m: m.fuse1.bias).unsqueeze(1)
    hidden = F.gelu(torch.baddbmm(bias, U[..., :k], weight.mT))
    gamma = _stack(psnets, lambda m: m.gamma)
    return y + gamma * _linear(hidden, [m.fuse2 for m in psnets])


def _contextual_reencoding(psnets: Sequence[PSNetNoise], y: Tensor) -> Tensor:
    # PSNetNoise.contextual_reencoding (_TokenEncoderLayer), batched.
    x = y
    training = psnets[0].training
    for depth in range(len(psnets[0].reencode)):
        layers = [m.reencode[depth] for m in psnets]
        p = layers[0].dropout
        attn = _dropout(_linear(x, [lay.value_out for lay in layers]), p,
                        training)
        x = _layer_norm(x + attn, [lay.norm1 for lay in layers])
        ffn = _linear(F.relu(_linear(x, [lay.lin1 for lay in layers])),
                      [lay.lin2 for lay in layers])
        ffn = _dropout(ffn, p, training)
        x = _layer_norm(x + ffn, [lay.norm2 for lay in layers])
    return x + y


def denoise_channels(denoisers: Sequence[DiffusionDenoiser], x0: Tensor,
                     noise: Tensor, t: Tensor) -> Tuple[Tensor, Tensor]:
    r"""One-step unconditional denoising of every channel at once: channel
    :math:`c` is :obj:`denoisers[c].p_losses(x0, noise[c], t[c])`.

    Args:
        denoisers ([DiffusionDenoiser]): One module per channel, all with
            the same :obj:`dim`, schedule, steps and network.
        x0 (torch.Tensor): Clean embeddings :obj:`[B, dim]`, shared by the
            channels.
        noise (torch.Tensor): Noise :obj:`[C, B, dim]`.
        t (torch.Tensor): Integer steps :obj:`[C, B]`.

    Returns:
        :obj:`(x0_hat, loss)`: the predictions :obj:`[C, B, dim]` and each
        channel's mean squared error to :obj:`x0`, :obj:`[C]`.
    """
    check_channels(denoisers, DiffusionDenoiser, 'denoisers',
                   _denoiser_config)
    first = denoisers[0]
    first._check_embeddings('x0', x0)
    num_channels = len(denoisers)
    if tuple(noise.shape) != (num_channels, ) + tuple(x0.shape):
        raise ValueError(f"'noise' must have shape [C={num_channels}, "
                         f"{x0.size(0)}, {x0.size(1)}] (got "
                         f"{tuple(noise.shape)})")
    for c in range(num_channels):
        first._check_noise(noise[c], x0)
        first._check_steps(t[c], x0.size(0))
    # The schedules are equal (one configuration): channel 0's buffers.
    x_t = (first._coef(first.sqrt_alphas_cumprod, t, x0) * x0 +
           first._coef(first.sqrt_one_minus_alphas_cumprod, t, x0) * noise)

    tau = _time_features(denoisers, t, x0.dtype)
    none = _stack(denoisers, lambda m: m.none_embedding)
    x0_hat = _denoiser_net(denoisers, x_t, none, tau)
    loss = (x0_hat - x0).pow(2).mean(dim=(1, 2))
    return x0_hat, loss


def _time_features(denoisers: Sequence[DiffusionDenoiser], t: Tensor,
                   dtype: torch.dtype) -> Tensor:
    # DiffusionDenoiser._time_features: the MLP on the step embeddings, or
    # on every step once and gathered when there are more rows than steps.
    first = denoisers[0]
    lin1 = [m.time_mlp[0] for m in denoisers]
    lin2 = [m.time_mlp[2] for m in denoisers]
    if t.size(1) <= first.num_steps:
        emb = timestep_embedding(t.flatten(), first.dim, dtype)
        return _linear(F.gelu(_linear(emb.view(t.shape + (-1, )), lin1)),
                       lin2)
    steps = torch.arange(first.num_steps, device=t.device)
    emb = timestep_embedding(steps, first.dim, dtype).expand(
        len(denoisers), -1, -1)
    table = _linear(F.gelu(_linear(emb, lin1)), lin2)
    return table.gather(1, t.unsqueeze(-1).expand(-1, -1, table.size(-1)))


def _denoiser_net(denoisers: Sequence[DiffusionDenoiser], x_t: Tensor,
                  none: Tensor, tau: Tensor) -> Tensor:
    # net([x_t | none | tau]) with the constant "none" columns applied once
    # per channel instead of to B copies.
    dim = denoisers[0].dim
    nets = [m.net for m in denoisers]
    first = _stack(nets, lambda net: net[0].weight)
    W_x, W_c, W_t = first.split(dim, dim=-1)
    bias = (_stack(nets, lambda net: net[0].bias).unsqueeze(1) +
            none @ W_c.mT)
    out = torch.baddbmm(bias, x_t, W_x.mT) + torch.bmm(tau, W_t.mT)
    if len(nets[0]) == 1:
        return out
    return _linear(F.gelu(out), [net[2] for net in nets])
