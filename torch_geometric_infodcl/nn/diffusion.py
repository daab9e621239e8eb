import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import GELU, Linear, Parameter, Sequential

from torch_geometric.typing import OptTensor

from torch_geometric_infodcl.utils.checks import (
    check_finite,
    check_floating,
    check_int,
    check_shape,
    check_tensor,
)

SCHEDULES = ('linear', 'cosine', 'exp', 'sqrt')
DENOISERS = ('mlp1', 'mlp2')


def beta_schedule(
    name: str,
    num_steps: int,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    beta_min: float = 0.1,
    beta_max: float = 10.0,
) -> Tensor:
    r"""Returns the noise schedule :math:`\beta_0, \ldots, \beta_{T-1}` as a
    float64 tensor of shape :obj:`[T]`.

    * :obj:`"linear"`: :math:`\beta_k` evenly spaced from :obj:`beta_start`
      to :obj:`beta_end`.
    * :obj:`"cosine"`: `Nichol and Dhariwal (2021)
      <https://arxiv.org/abs/2102.09672>`_,
      :math:`\bar{\alpha}(t) = \cos^2\left(\frac{t/T + s}{1 + s}
      \frac{\pi}{2}\right)` with :math:`s = 0.008` and :math:`\beta_k = 1 -
      \bar{\alpha}(k+1) / \bar{\alpha}(k)` clipped at :math:`0.999`.
    * :obj:`"exp"`: the DreamRec schedule used by InfoDCL,

      .. math::
          \beta_k = 1 - \exp\left(-\frac{\beta_{\min}}{T} - x_k
          \frac{\beta_{\max} - \beta_{\min}}{2T^2}\right), \qquad
          x = \mathrm{linspace}(1, 2T + 1, T).

    * :obj:`"sqrt"`: Diffusion-LM, :math:`\bar{\alpha}(t) = 1 -
      \sqrt{t/T + 10^{-4}}` with :math:`\beta_k = 1 - \bar{\alpha}(k+1) /
      \bar{\alpha}(k)` clipped at :math:`0.999`.

    Args:
        name (str): One of :obj:`"linear"`, :obj:`"cosine"`, :obj:`"exp"`,
            :obj:`"sqrt"`.
        num_steps (int): Number of diffusion steps :math:`T`.
        beta_start (float, optional): First :math:`\beta` of the linear
            schedule. (default: :obj:`1e-4`)
        beta_end (float, optional): Last :math:`\beta` of the linear schedule.
            (default: :obj:`0.02`)
        beta_min (float, optional): :math:`\beta_{\min}` of the exp schedule.
            (default: :obj:`0.1`)
        beta_max (float, optional): :math:`\beta_{\max}` of the exp schedule.
            (default: :obj:`10.0`)
    """
    T = check_int(num_steps, 'num_steps')
    if name == 'linear':
        if not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError(f"'linear' schedule needs 0 < beta_start <= "
                             f"beta_end < 1 (got {beta_start}, {beta_end})")
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    if name == 'cosine':
        s = 0.008
        return _betas_from_alpha_bar(
            lambda t: torch.cos((t / T + s) / (1 + s) * math.pi / 2)**2, T)
    if name == 'exp':
        x = torch.linspace(1, 2 * T + 1, T, dtype=torch.float64)
        return 1 - torch.exp(-beta_min / T - x * (beta_max - beta_min) /
                             (2 * T * T))
    if name == 'sqrt':
        return _betas_from_alpha_bar(lambda t: 1 - torch.sqrt(t / T + 1e-4),
                                     T)
    raise ValueError(f"Unknown beta schedule '{name}' "
                     f"(valid: {', '.join(SCHEDULES)})")


def _betas_from_alpha_bar(alpha_bar, num_steps: int) -> Tensor:
    # beta_k = 1 - alpha_bar(k + 1) / alpha_bar(k), capped so no step
    # destroys the signal completely.
    t = torch.arange(num_steps + 1, dtype=torch.float64)
    a = alpha_bar(t)
    return (1 - a[1:] / a[:-1]).clamp(max=0.999)


def timestep_embedding(t: Tensor, dim: int,
                       dtype: Optional[torch.dtype] = None) -> Tensor:
    r"""Sinusoidal embedding of diffusion steps (Transformer / DreamRec
    style), equal to :class:`torch_geometric.nn.encoding.PositionalEncoding`:

    .. math::
        \mathrm{emb}(t) = \left[\sin(t \omega_0), \ldots,
        \sin(t \omega_{h-1}), \cos(t \omega_0), \ldots, \cos(t \omega_{h-1})
        \right], \qquad \omega_i = 10000^{-i / (h - 1)},

    with :math:`h = \lfloor d / 2 \rfloor` and a zero last column for odd
    :math:`d`.

    Args:
        t (torch.Tensor): Steps of shape :obj:`[N]`.
        dim (int): Embedding size :math:`d \geq 2`.
        dtype (torch.dtype, optional): Output dtype; the default floating
            point dtype if :obj:`None`. (default: :obj:`None`)
    """
    if t.dim() != 1:
        raise ValueError(f"'t' must be 1-D (got shape {tuple(t.shape)})")
    check_int(dim, 'dim', min_value=2)
    dtype = dtype or torch.get_default_dtype()
    half = dim // 2
    exponent = torch.arange(half, device=t.device, dtype=dtype)
    freq = torch.exp(-math.log(10000.0) * exponent / max(half - 1, 1))
    angle = t.to(dtype).unsqueeze(-1) * freq
    emb = torch.cat([angle.sin(), angle.cos()], dim=-1)
    return F.pad(emb, (0, dim % 2))


class DiffusionDenoiser(torch.nn.Module):
    r"""The DDPM-style diffusion model with an :math:`\mathbf{x}_0`-predicting
    denoiser from the `"InfoDCL: Informative Noise Enhanced Diffusion Based
    Contrastive Learning" <https://arxiv.org/abs/2512.16576>`_ paper
    (adopted from DreamRec).

    The forward process mixes a clean embedding with any noise tensor, e.g.
    the informative noise of :class:`PSNetNoise`,

    .. math::
        \mathbf{z}_t = \sqrt{\bar{\alpha}_t} \, \mathbf{x}_0 +
        \sqrt{1 - \bar{\alpha}_t} \, \boldsymbol{\epsilon},

    and the denoiser predicts the clean embedding

    .. math::
        \hat{\mathbf{x}}_0 = f_{\theta}\left( [\mathbf{z}_t \,\Vert\,
        \mathbf{c} \,\Vert\, \tau(t)] \right), \qquad
        \tau(t) = \mathbf{W}_2 \, \mathrm{GELU}(\mathbf{W}_1 \,
        \mathrm{emb}(t) + \mathbf{b}_1) + \mathbf{b}_2,

    where :math:`\mathrm{emb}` is :func:`timestep_embedding` and
    :math:`\mathbf{c}` is the (projected) condition or, without one, a
    learned "none" embedding. :meth:`sample` runs the ancestral DDPM sampler
    with classifier-free guidance
    :math:`\hat{\mathbf{x}}_0 = (1 + w) f(\mathbf{x}_t, \mathbf{c}, t) -
    w f(\mathbf{x}_t, \varnothing, t)`.

    Args:
        dim (int): Embedding size :math:`d`.
        num_steps (int, optional): Number of diffusion steps :math:`T`.
            (default: :obj:`200`)
        schedule (str, optional): The :func:`beta_schedule` name.
            (default: :obj:`"exp"`)
        beta_start (float, optional): First :math:`\beta` of the linear
            schedule. (default: :obj:`1e-4`)
        beta_end (float, optional): Last :math:`\beta` of the linear
            schedule. (default: :obj:`0.02`)
        denoiser (str, optional): :obj:`"mlp1"` for
            :math:`\mathrm{Linear}(3d, d)` or :obj:`"mlp2"` for
            :math:`\mathrm{Linear}(3d, 2d)`-GELU-:math:`\mathrm{Linear}(2d,
            d)`. (default: :obj:`"mlp1"`)
        cond_dim (int, optional): Size of the condition; it is projected to
            :math:`d` by a linear layer if it differs from :obj:`dim`. If set
            to :obj:`None`, conditions have size :obj:`dim`.
            (default: :obj:`None`)
        guidance (float, optional): Default classifier-free guidance weight
            :math:`w` of :meth:`sample`. (default: :obj:`2.0`)

    Shapes:
        - **input:**
          noisy embeddings :math:`(B, d)`,
          steps :math:`(B)`,
          condition :math:`(B, d_c)` *(optional)*
        - **output:** predicted clean embeddings :math:`(B, d)`
    """
    def __init__(
        self,
        dim: int,
        num_steps: int = 200,
        schedule: str = 'exp',
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        denoiser: str = 'mlp1',
        cond_dim: Optional[int] = None,
        guidance: float = 2.0,
    ):
        super().__init__()
        check_int(dim, 'dim', min_value=2)
        if denoiser not in DENOISERS:
            raise ValueError(f"Unknown denoiser '{denoiser}' "
                             f"(valid: {', '.join(DENOISERS)})")
        if cond_dim is not None:
            check_int(cond_dim, 'cond_dim')

        self.dim = dim
        self.num_steps = num_steps
        self.schedule = schedule
        self.denoiser = denoiser
        self.cond_dim = dim if cond_dim is None else cond_dim
        self.guidance = guidance
        self._register_schedule(
            beta_schedule(schedule, num_steps, beta_start, beta_end))

        self.time_mlp = Sequential(Linear(dim, 2 * dim), GELU(),
                                   Linear(2 * dim, dim))
        self.cond_proj = (Linear(self.cond_dim, dim)
                          if self.cond_dim != dim else None)
        self.none_embedding = Parameter(torch.empty(1, dim))
        if denoiser == 'mlp1':
            self.net = Sequential(Linear(3 * dim, dim))
        else:
            self.net = Sequential(Linear(3 * dim, 2 * dim), GELU(),
                                  Linear(2 * dim, dim))

        self.reset_parameters()

    def _register_schedule(self, betas: Tensor):
        # Computed in float64, stored in the default dtype; they follow .to().
        alphas = 1 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
        buffers = {
            'betas': betas,
            'alphas_cumprod': alphas_cumprod,
            'alphas_cumprod_prev': alphas_cumprod_prev,
            'sqrt_alphas_cumprod': alphas_cumprod.sqrt(),
            'sqrt_one_minus_alphas_cumprod': (1 - alphas_cumprod).sqrt(),
            'posterior_mean_coef1': (betas * alphas_cumprod_prev.sqrt() /
                                     (1 - alphas_cumprod)),
            'posterior_mean_coef2': ((1 - alphas_cumprod_prev) *
                                     alphas.sqrt() / (1 - alphas_cumprod)),
            'posterior_variance': (betas * (1 - alphas_cumprod_prev) /
                                   (1 - alphas_cumprod)),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.to(torch.get_default_dtype()))

    def reset_parameters(self):
        r"""Resets all learnable parameters of the module."""
        for module in self.modules():
            if isinstance(module, Linear):
                module.reset_parameters()
        torch.nn.init.normal_(self.none_embedding)

    def forward(self, x_t: Tensor, t: Tensor,
                cond: OptTensor = None) -> Tensor:
        r"""Predicts :math:`\mathbf{x}_0` from noisy embeddings.

        Args:
            x_t (torch.Tensor): Noisy embeddings of shape :obj:`[B, dim]`.
            t (torch.Tensor): Integer steps of shape :obj:`[B]` in
                :obj:`[0, num_steps)`.
            cond (torch.Tensor, optional): Condition of shape
                :obj:`[B, cond_dim]`; the learned "none" embedding if
                :obj:`None`. (default: :obj:`None`)
        """
        self._check_embeddings('x_t', x_t)
        self._check_steps(t, x_t.size(0))
        if cond is not None:
            self._check_condition(cond, x_t)
        return self._denoise(x_t, t, cond)

    def _denoise(self, x_t: Tensor, t: Tensor, cond: OptTensor) -> Tensor:
        if cond is None:
            c = self.none_embedding.expand(x_t.size(0), -1)
        else:
            c = cond if self.cond_proj is None else self.cond_proj(cond)
        tau = self._time_features(t, x_t.dtype)
        return self.net(torch.cat([x_t, c, tau], dim=-1))

    def _time_features(self, t: Tensor, dtype: torch.dtype) -> Tensor:
        if t.numel() <= self.num_steps:
            return self.time_mlp(timestep_embedding(t, self.dim, dtype))
        # More rows than steps: run the MLP once per step, then gather.
        steps = torch.arange(self.num_steps, device=t.device)
        return self.time_mlp(timestep_embedding(steps, self.dim, dtype))[t]

    def q_sample(self, x0: Tensor, t: Tensor,
                 noise: OptTensor = None) -> Tensor:
        r"""Diffuses :obj:`x0` of shape :obj:`[B, dim]` to steps :obj:`t` of
        shape :obj:`[B]`. :obj:`noise` may be any tensor of the shape of
        :obj:`x0` (standard Gaussian if :obj:`None`)."""
        self._check_embeddings('x0', x0)
        self._check_steps(t, x0.size(0))
        return self._diffuse(x0, t, self._check_noise(noise, x0))

    def _diffuse(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        return (self._coef(self.sqrt_alphas_cumprod, t, x0) * x0 +
                self._coef(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise)

    def p_losses(
        self,
        x0: Tensor,
        noise: OptTensor = None,
        t: OptTensor = None,
        cond: OptTensor = None,
    ) -> Tuple[Tensor, Tensor]:
        r"""Diffuses :obj:`x0` with :obj:`noise` at steps :obj:`t` (uniform
        in :obj:`[0, num_steps)` per row if :obj:`None`, drawn from the global
        RNG) and denoises it in one step.

        Returns:
            :obj:`(x0_hat, loss)`: the prediction of shape :obj:`[B, dim]`
            and its mean squared error to :obj:`x0`.
        """
        self._check_embeddings('x0', x0)
        noise = self._check_noise(noise, x0)
        if t is None:
            t = torch.randint(0, self.num_steps, (x0.size(0), ),
                              device=x0.device)
        else:
            self._check_steps(t, x0.size(0))
        if cond is not None:
            self._check_condition(cond, x0)
        x0_hat = self._denoise(self._diffuse(x0, t, noise), t, cond)
        return x0_hat, F.mse_loss(x0_hat, x0)

    @torch.no_grad()
    def sample(
        self,
        x_T: Tensor,
        cond: OptTensor = None,
        guidance: Optional[float] = None,
        num_steps: Optional[int] = None,
    ) -> Tensor:
        r"""Runs the ancestral DDPM sampler from :obj:`x_T` down to step 0,

        .. math::
            \mathbf{x}_{t-1} = \frac{\beta_t \sqrt{\bar{\alpha}_{t-1}}}
            {1 - \bar{\alpha}_t} \hat{\mathbf{x}}_0 +
            \frac{(1 - \bar{\alpha}_{t-1}) \sqrt{\alpha_t}}
            {1 - \bar{\alpha}_t} \mathbf{x}_t + \sigma_t \mathbf{z},

        with :math:`\sigma_t^2 = \beta_t (1 - \bar{\alpha}_{t-1}) / (1 -
        \bar{\alpha}_t)` and no noise at :math:`t = 0`.

        Args:
            x_T (torch.Tensor): Start embeddings of shape :obj:`[B, dim]`.
            cond (torch.Tensor, optional): Condition of shape
                :obj:`[B, cond_dim]`; unconditional sampling if :obj:`None`.
                (default: :obj:`None`)
            guidance (float, optional): Guidance weight :math:`w`;
                :obj:`self.guidance` if :obj:`None`. Ignored without
                :obj:`cond`. (default: :obj:`None`)
            num_steps (int, optional): Start the chain at step
                :obj:`num_steps - 1`; :obj:`self.num_steps` if :obj:`None`.
                (default: :obj:`None`)
        """
        self._check_embeddings('x_T', x_T)
        if cond is not None:
            self._check_condition(cond, x_T)
        steps = self.num_steps if num_steps is None else num_steps
        if isinstance(steps, bool) or not isinstance(steps, int) \
                or not 1 <= steps <= self.num_steps:
            raise ValueError(f"'num_steps' must be an integer in "
                             f"[1, {self.num_steps}] (got {num_steps!r})")
        w = self.guidance if guidance is None else guidance

        x = x_T
        for step in reversed(range(steps)):
            t = torch.full((x.size(0), ), step, dtype=torch.long,
                           device=x.device)
            x0_hat = self._guided_x0(x, t, cond, w)
            mean = (self.posterior_mean_coef1[step].to(x.dtype) * x0_hat +
                    self.posterior_mean_coef2[step].to(x.dtype) * x)
            if step == 0:
                return mean
            sigma = self.posterior_variance[step].sqrt().to(x.dtype)
            x = mean + sigma * torch.randn_like(x)
        return x

    def _guided_x0(self, x: Tensor, t: Tensor, cond: OptTensor,
                   w: float) -> Tensor:
        if cond is None:
            return self(x, t)
        return (1 + w) * self(x, t, cond) - w * self(x, t)

    @staticmethod
    def _coef(buffer: Tensor, t: Tensor, x: Tensor) -> Tensor:
        return buffer[t].to(x.dtype).unsqueeze(-1)

    def _check_embeddings(self, name: str, x: Tensor):
        check_floating(check_tensor(x, name), name)
        check_finite(check_shape(x, name, ('B', self.dim)), name)

    def _check_steps(self, t: Tensor, batch_size: int):
        if not isinstance(t, Tensor) or t.is_floating_point() \
                or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"'t' must be an integer tensor "
                            f"(got {getattr(t, 'dtype', type(t).__name__)})")
        if t.shape != (batch_size, ):
            raise ValueError(f"'t' must have shape [{batch_size}] "
                             f"(got {tuple(t.shape)})")
        if t.numel() == 0:
            return
        t_min, t_max = (int(v) for v in torch.aminmax(t))
        if t_min < 0 or t_max >= self.num_steps:
            raise ValueError(f"'t' must lie in [0, {self.num_steps - 1}] "
                             f"(got values in [{t_min}, {t_max}])")

    def _check_noise(self, noise: OptTensor, x0: Tensor) -> Tensor:
        if noise is None:
            return torch.randn_like(x0)
        if not isinstance(noise, Tensor) or noise.dtype != x0.dtype:
            got = getattr(noise, 'dtype', type(noise).__name__)
            raise TypeError(f"'noise' must be a tensor of the dtype of 'x0' "
                            f"{x0.dtype} (got {got})")
        if noise.shape != x0.shape:
            raise ValueError(f"'noise' must have the shape of 'x0' "
                             f"{tuple(x0.shape)} (got {tuple(noise.shape)})")
        return check_finite(noise, 'noise')

    def _check_condition(self, cond: Tensor, x: Tensor):
        check_floating(check_tensor(cond, 'cond'), 'cond')
        check_shape(cond, 'cond', (x.size(0), self.cond_dim))
        check_finite(cond, 'cond')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.dim}, '
                f'num_steps={self.num_steps}, schedule={self.schedule!r}, '
                f'denoiser={self.denoiser!r})')
