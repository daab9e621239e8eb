from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import LayerNorm, Linear, Parameter

from torch_geometric.typing import OptTensor

from torch_geometric_infodcl.utils.checks import (
    check_float,
    check_floating,
    check_int,
    check_non_empty,
    check_shape,
    check_tensor,
)


def _svd_tolerance(y: Tensor, s_max: Tensor) -> Tensor:
    r"""Singular values below this count as zero; squared-gaps below
    ``tol * s_max`` count as repeated.

    The relative part follows :func:`numpy.linalg.matrix_rank`
    (``max(B, d) * eps`` of the input dtype). It is floored at the accuracy
    of a float64 Gram matrix, :math:`\sqrt{\max(B, d) \cdot \epsilon_{64}}`,
    since that is how well the SVD below resolves small singular values.
    :obj:`s_max` holds the largest singular value of each matrix of the
    batch, :obj:`[..., 1]`.
    """
    n = max(y.size(-2), y.size(-1))
    rtol = max(n * torch.finfo(y.dtype).eps,
               (n * torch.finfo(torch.float64).eps)**0.5)
    # The floor keeps an all-zero batch from dividing by zero.
    return torch.clamp(s_max * rtol, min=torch.finfo(torch.float64).tiny)


def _fix_signs(V: Tensor) -> Tensor:
    # Singular vectors are defined up to sign: flip each column of V so that
    # its largest-magnitude entry is positive (U = yV/s then follows).
    idx = V.abs().argmax(dim=-2, keepdim=True)
    sign = torch.where(V.gather(-2, idx) < 0, -1.0, 1.0).to(V.dtype)
    return V * sign


class _SafeThinSVD(torch.autograd.Function):
    r"""Thin SVD :math:`\mathbf{y} = \mathbf{U} \mathrm{diag}(\mathbf{s})
    \mathbf{V}^{\top}` of a :math:`B \times d` matrix (or of each matrix of
    a :math:`[C, B, d]` batch) with a backward pass that stays finite for
    repeated and zero singular values.

    The forward pass diagonalises the :math:`d \times d` Gram matrix
    :math:`\mathbf{y}^{\top}\mathbf{y}` in float64 (faster than LAPACK's
    SVD for :math:`B \gg d`; float64 so that squaring the condition number
    costs no accuracy) and sets :math:`\mathbf{U} = \mathbf{y} \mathbf{V} /
    \mathbf{s}`. The backward pass is PyTorch's :obj:`linalg_svd` backward
    with :math:`1 / (s_k^2 - s_j^2)` and :math:`1 / s_j` set to zero below
    :func:`_svd_tolerance`. The :math:`B \times d` products run in the
    input's precision (at least float32), the :math:`d \times d` algebra in
    float64. Every operation is batched over leading dimensions, so a stack
    of matrices costs one call (one batched :obj:`eigh`).
    """
    @staticmethod
    def forward(ctx, y: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        k = min(y.size(-2), y.size(-1))
        work = torch.promote_types(y.dtype, torch.float32)
        y64 = y.to(torch.float64)
        gram = y64.mT @ y64
        if not bool(torch.isfinite(gram).all()):
            raise ValueError(f"PSNet input of shape {tuple(y.shape)} "
                             f"contains NaN or infinite values")
        evals, evecs = torch.linalg.eigh(gram)  # ascending order
        evals = evals.flip(-1)[..., :k]
        V64 = _fix_signs(evecs.flip(-1)[..., :k])
        s = evals.clamp(min=0.0).sqrt()

        tol = _svd_tolerance(y, s[..., :1])
        keep = s > tol
        s = torch.where(keep, s, 0.0)
        s_inv = torch.where(keep, 1.0 / s.clamp(min=tol), 0.0)
        # Columns of U that belong to zero singular values are undefined;
        # they are returned as zeros so the output is a function of y.
        V = V64.to(work)
        U = (y.to(work) @ V) * s_inv.to(work).unsqueeze(-2)

        s2 = s * s
        # gap[..., j, k] = s_k^2 - s_j^2
        gap = s2.unsqueeze(-2) - s2.unsqueeze(-1)
        inv_gap = torch.where(gap.abs() > (tol * s[..., :1]).unsqueeze(-1),
                              1.0 / torch.where(gap == 0, 1.0, gap), 0.0)

        ctx.save_for_backward(U, V, V64, s, s_inv, inv_gap)
        ctx.in_dtype = y.dtype
        ctx.set_materialize_grads(False)
        return U.to(y.dtype), s.to(y.dtype), V.to(y.dtype)

    @staticmethod
    def backward(ctx, gU: OptTensor, gs: OptTensor,
                 gV: OptTensor) -> Optional[Tensor]:
        U, V, V64, s, s_inv, inv_gap = ctx.saved_tensors
        B, k, d = U.size(-2), U.size(-1), V.size(-2)
        work = U.dtype
        row = s.unsqueeze(-2)  # s_k along columns
        col = s.unsqueeze(-1)  # s_j along rows
        row_inv = s_inv.unsqueeze(-2)

        # inner = [skew(U^T gU) S + S skew(V^T gV)] / gap + diag(gs), in f64.
        inner = s.new_zeros(s.shape + (k, ))
        if gs is not None:
            inner = inner + torch.diag_embed(gs.to(s.dtype))
        if gU is not None:
            # Gradients on the zeroed columns of U drop out by themselves:
            # they only meet zero columns of U and zero entries of s_inv.
            gU = gU.to(work)
            UtgU = (U.mT @ gU).to(s.dtype)
            inner = inner + (UtgU - UtgU.mT) * row * inv_gap
        if gV is not None:
            gV = gV.to(s.dtype)
            VtgV = V64.mT @ gV
            inner = inner + col * (VtgV - VtgV.mT) * inv_gap

        if gU is not None and B > k:
            # U [inner] V^T + (I - U U^T) gU S^-1 V^T
            core = (inner - UtgU * row_inv).to(work)
            grad = (U @ core + gU * row_inv.to(work)) @ V.mT
        elif gV is not None and d > k:
            # U [inner] V^T + U S^-1 gV^T (I - V V^T)
            right = ((inner - VtgV.mT * s_inv.unsqueeze(-1)) @ V64.mT +
                     (gV * row_inv).mT)
            grad = U @ right.to(work)
        else:
            grad = U @ (inner @ V64.mT).to(work)
        return grad.to(ctx.in_dtype)


def _check_svd_input(y: Tensor, ndim: int, shape_text: str):
    if y.dim() != ndim or y.numel() == 0:
        raise ValueError(f"'safe_svd' expects a non-empty {shape_text} "
                         f"(got shape {tuple(y.shape)})")
    if not y.is_floating_point():
        raise TypeError(f"'safe_svd' expects a floating-point matrix "
                        f"(got {y.dtype})")


def safe_svd(y: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Thin, sign-fixed SVD :math:`\mathbf{y} = \mathbf{U}\,
    \mathrm{diag}(\mathbf{s})\,\mathbf{V}^{\top}` with a numerically safe
    backward pass.

    Singular values come in descending order. Each right singular vector
    (column of :math:`\mathbf{V}`) has its largest-magnitude entry positive,
    which fixes the sign ambiguity. Singular values below
    :math:`\max(B, d) \cdot \epsilon \cdot s_{\max}` (floored at the float64
    Gram accuracy) are returned as exact zeros with zero columns in
    :math:`\mathbf{U}`. In the backward pass, terms :math:`1/s_j` and
    :math:`1/(s_k^2 - s_j^2)` below the same tolerance are dropped instead of
    becoming :obj:`inf`/:obj:`NaN` as in :meth:`torch.linalg.svd`.
    Within a subspace of exactly repeated singular values the basis is the
    one returned by :meth:`torch.linalg.eigh` (any basis is valid).

    Args:
        y (torch.Tensor): A floating-point matrix of shape :obj:`[B, d]`, or
            a batch of them :obj:`[C, B, d]` (each decomposed on its own,
            in one call).

    Returns:
        :obj:`(U, s, V)` of shapes :obj:`[B, k]`, :obj:`[k]` and
        :obj:`[d, k]` with :obj:`k = min(B, d)` (with the leading :obj:`C`
        for a batch), in the dtype of :obj:`y`.
    """
    if y.dim() == 3:
        _check_svd_input(y, 3, '[C, B, d] batch of matrices')
    else:
        _check_svd_input(y, 2, '2-D matrix')
    return _SafeThinSVD.apply(y)


def _dropout(x: Tensor, p: float, training: bool) -> Tensor:
    r"""Inverted dropout with the distribution of :func:`F.dropout`: each
    entry is kept with probability :math:`1 - p` and scaled by
    :math:`1 / (1 - p)`. Thresholding a uniform draw is about twice as fast
    as :func:`F.dropout`'s :obj:`bernoulli_` on CPU."""
    if not training or p == 0.0:
        return x
    return x * torch.rand_like(x).ge_(p).mul_(1.0 / (1.0 - p))


class _TokenEncoderLayer(torch.nn.Module):
    r"""One post-LN :class:`torch.nn.TransformerEncoderLayer` applied to a
    length-1 sequence. Softmax attention over a single token is identically
    one, so self-attention reduces to the value and output projections,
    fused here into one :class:`~torch.nn.Linear`
    (:math:`\mathbf{W} = \mathbf{W}_o \mathbf{W}_v`,
    :math:`\mathbf{b} = \mathbf{W}_o \mathbf{b}_v + \mathbf{b}_o`).
    """
    def __init__(self, dim: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.value_out = Linear(dim, dim)
        self.norm1 = LayerNorm(dim)
        self.lin1 = Linear(dim, ffn_dim)
        self.lin2 = Linear(ffn_dim, dim)
        self.norm2 = LayerNorm(dim)
        self.dropout = dropout

    def reset_parameters(self):
        for module in self.children():
            module.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        attn = _dropout(self.value_out(x), self.dropout, self.training)
        x = self.norm1(x + attn)
        ffn = self.lin2(F.relu(self.lin1(x)))
        ffn = _dropout(ffn, self.dropout, self.training)
        return self.norm2(x + ffn)


class PSNetNoise(torch.nn.Module):
    r"""The informative-noise generator PSNet from the `"InfoDCL:
    Informative Noise Enhanced Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ paper.

    It turns Gaussian noise :math:`\boldsymbol{\epsilon} \in \mathbb{R}^{B
    \times d}` and auxiliary metadata :math:`\mathbf{m}` of the same batch
    into informative noise

    .. math::
        \boldsymbol{\epsilon}^{(m)} = S(\mathbf{y}) + (2\sigma(\alpha) - 1)
        \, \phi(\mathbf{m}) + \beta \, h(\mathbf{y}), \qquad
        \mathbf{y} = \boldsymbol{\epsilon} + \phi(\mathbf{m}),

    where :math:`\phi` is a linear projection of the metadata. The spectral
    rectification works on the thin SVD :math:`\mathbf{y} = \mathbf{U}
    \mathrm{diag}(\mathbf{s}) \mathbf{V}^{\top}` of the whole batch,

    .. math::
        S(\mathbf{y}) = \mathbf{y} + \boldsymbol{\gamma} \odot
        \mathrm{MLP}_f\left( \left[ \mathbf{U}\mathbf{W}_u \,\Vert\,
        \mathbf{W}_v \mathbf{v}_1 \,\Vert\, \mathbf{W}_{s,2}\,
        \mathrm{ReLU}(\mathbf{W}_{s,1} \mathbf{s}) \right] \right),

    with :math:`\mathbf{v}_1` the first right singular vector and the last
    two terms broadcast over the batch. The contextual re-encoding
    :math:`h(\mathbf{y}) = \mathrm{Enc}(\mathbf{y}) + \mathbf{y}` is the
    authors' :class:`torch.nn.TransformerEncoder` (4 heads, post-LN, ReLU)
    run on each row as a length-1 sequence. Attention over one token is
    identically one, so each layer computes

    .. math::
        \mathbf{x} &\leftarrow \mathrm{LN}_1(\mathbf{x} +
        \mathrm{Dropout}(\mathbf{W}_o(\mathbf{W}_v\mathbf{x} + \mathbf{b}_v)
        + \mathbf{b}_o))

        \mathbf{x} &\leftarrow \mathrm{LN}_2(\mathbf{x} +
        \mathrm{Dropout}(\mathbf{W}_2 \mathrm{ReLU}(\mathbf{W}_1 \mathbf{x} +
        \mathbf{b}_1) + \mathbf{b}_2)),

    implemented without attention or query/key projections and with
    :math:`\mathbf{W}_o\mathbf{W}_v` fused into one linear layer. (In
    training mode, PyTorch's layer additionally drops attention weights and
    FFN hidden units; only the two residual-branch dropouts above are
    applied here.) Without metadata, :math:`\mathbf{y} =
    \boldsymbol{\epsilon}` and :math:`\boldsymbol{\epsilon}^{(m)} =
    (2\sigma(\alpha) - 1) S(\mathbf{y}) + \beta h(\mathbf{y})`.

    The SVD is computed by :func:`safe_svd`: its backward pass stays finite
    for repeated or zero singular values, each right singular vector is
    sign-fixed (largest-magnitude entry positive) so that the output is a
    deterministic function of :math:`\mathbf{y}`, and when the batch has
    fewer than :obj:`rank` singular values (:math:`B <` :obj:`rank`, or a
    truncated rank) :math:`\mathbf{U}` and :math:`\mathbf{s}` are zero-padded
    so that the layer widths stay fixed. Since :math:`\mathbf{s}` and
    :math:`\mathbf{V}` are statistics of the whole batch, the output of a
    row depends on the other rows of the batch.

    Args:
        dim (int): Noise and embedding size :math:`d`.
        metadata_dim (int, optional): Size of the metadata rows. If set to
            :obj:`None`, the module works without metadata.
            (default: :obj:`None`)
        rank (int, optional): Number :math:`r \leq d` of leading singular
            triplets to use. If set to :obj:`None`, all
            :math:`\min(B, d)` are used. (default: :obj:`None`)
        num_reencode_layers (int, optional): Number of re-encoding layers.
            (default: :obj:`2`)
        ffn_dim (int, optional): Hidden size of the re-encoding
            feed-forward blocks. (default: :obj:`256`)
        dropout (float, optional): Dropout probability of the re-encoding
            layers. (default: :obj:`0.1`)

    Shapes:
        - **input:**
          noise :math:`(B, d)`,
          metadata :math:`(B, d_m)` *(optional)*
        - **output:** informative noise :math:`(B, d)`
    """
    def __init__(
        self,
        dim: int,
        metadata_dim: Optional[int] = None,
        rank: Optional[int] = None,
        num_reencode_layers: int = 2,
        ffn_dim: int = 256,
        dropout: float = 0.1,
    ):
        super().__init__()
        check_int(dim, 'dim')
        if metadata_dim is not None:
            check_int(metadata_dim, 'metadata_dim')
        if rank is not None and not 1 <= check_int(rank, 'rank') <= dim:
            raise ValueError(f"'rank' must be an integer in [1, dim={dim}] "
                             f"or None (got {rank!r})")
        check_int(num_reencode_layers, 'num_reencode_layers')
        check_int(ffn_dim, 'ffn_dim')
        if not check_float(dropout, 'dropout') < 1.0:
            raise ValueError(f"'dropout' must be in [0, 1) (got {dropout})")

        self.dim = dim
        self.metadata_dim = metadata_dim
        self.rank = rank
        width = dim if rank is None else rank  # fixed width of U and s

        self.metadata_proj = (Linear(metadata_dim, dim)
                              if metadata_dim is not None else None)
        self.lin_u = Linear(width, dim)
        self.lin_v = Linear(dim, dim)
        self.lin_s1 = Linear(width, dim)
        self.lin_s2 = Linear(dim, dim)
        self.fuse1 = Linear(3 * dim, 2 * dim)
        self.fuse2 = Linear(2 * dim, dim)
        self.gamma = Parameter(torch.empty(1, dim))
        self.reencode = torch.nn.ModuleList([
            _TokenEncoderLayer(dim, ffn_dim, dropout)
            for _ in range(num_reencode_layers)
        ])
        self.alpha = Parameter(torch.empty(()))
        self.beta = Parameter(torch.empty(()))

        self.reset_parameters()

    def reset_parameters(self):
        r"""Resets all learnable parameters of the module."""
        if self.metadata_proj is not None:
            self.metadata_proj.reset_parameters()
        for lin in (self.lin_u, self.lin_v, self.lin_s1, self.lin_s2,
                    self.fuse1, self.fuse2):
            lin.reset_parameters()
        for layer in self.reencode:
            layer.reset_parameters()
        torch.nn.init.ones_(self.gamma)
        torch.nn.init.ones_(self.alpha)
        torch.nn.init.ones_(self.beta)

    def forward(self, noise: Tensor, metadata: OptTensor = None) -> Tensor:
        r"""Returns the informative noise of shape :obj:`[B, dim]`.

        Args:
            noise (torch.Tensor): Gaussian noise of shape :obj:`[B, dim]`.
            metadata (torch.Tensor, optional): Metadata rows of the same
                batch, shape :obj:`[B, metadata_dim]`. (default: :obj:`None`)
        """
        self._check_inputs(noise, metadata)
        gate = 2 * torch.sigmoid(self.alpha) - 1
        if metadata is None:
            y = noise
            return (gate * self.spectral_rectification(y) +
                    self.beta * self.contextual_reencoding(y))

        phi = self.metadata_proj(metadata)
        y = noise + phi
        return (self.spectral_rectification(y) + gate * phi +
                self.beta * self.contextual_reencoding(y))

    def spectral_rectification(self, y: Tensor) -> Tensor:
        r"""The spectral rectification :math:`S(\mathbf{y})` of a batch
        :obj:`y` of shape :obj:`[B, dim]`."""
        U, s, V = safe_svd(y)
        width = self.lin_u.in_features
        k = min(s.numel(), width)
        # s is zero-padded to the configured width (B < width or truncated
        # rank); the matching zero columns of U are skipped by slicing the
        # weight instead of padding U.
        s = F.pad(s[:k], (0, width - k))

        v_feat = self.lin_v(V[:, 0])
        s_feat = self.lin_s2(F.relu(self.lin_s1(s)))

        # fuse1([lin_u(U) | v | s]) with both linear maps on U merged into
        # one [B, k] x [k, 2d] product, and the v and s columns of the
        # weight applied once to the shared vectors instead of to B copies.
        W_u, W_v, W_s = self.fuse1.weight.split(self.dim, dim=1)
        weight = W_u @ self.lin_u.weight[:, :k]
        bias = (W_u @ self.lin_u.bias + W_v @ v_feat + W_s @ s_feat +
                self.fuse1.bias)
        hidden = F.gelu(F.linear(U[:, :k], weight, bias))
        return y + self.gamma * self.fuse2(hidden)

    def contextual_reencoding(self, y: Tensor) -> Tensor:
        r"""The contextual re-encoding :math:`h(\mathbf{y}) =
        \mathrm{Enc}(\mathbf{y}) + \mathbf{y}` of a batch :obj:`y` of shape
        :obj:`[B, dim]`."""
        x = y
        for layer in self.reencode:
            x = layer(x)
        return x + y

    def _check_inputs(self, noise: Tensor, metadata: OptTensor):
        check_floating(check_tensor(noise, 'noise'), 'noise')
        check_non_empty(check_shape(noise, 'noise', ('B', self.dim)), 'noise')
        if metadata is None:
            return
        if self.metadata_proj is None:
            raise ValueError("'metadata' was given but this PSNetNoise was "
                             "built without 'metadata_dim'")
        check_floating(check_tensor(metadata, 'metadata'), 'metadata')
        if metadata.dtype != noise.dtype:
            raise TypeError(f"'metadata' dtype {metadata.dtype} differs from "
                            f"'noise' dtype {noise.dtype}")
        check_shape(metadata, 'metadata', ('B', self.metadata_dim))
        if metadata.size(0) != noise.size(0):
            raise ValueError(f"'metadata' has {metadata.size(0)} rows but "
                             f"'noise' has {noise.size(0)} "
                             f"(shapes {tuple(metadata.shape)} and "
                             f"{tuple(noise.shape)})")

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.dim}, '
                f'metadata_dim={self.metadata_dim}, rank={self.rank})')

