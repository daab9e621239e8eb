r"""The five training objectives of InfoDCL, from the `"InfoDCL: Informative
Noise Enhanced Diffusion Based Contrastive Learning"
<https://arxiv.org/abs/2512.16576>`_ paper, as plain functions."""
import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric_infodcl.utils.checks import (
    check_float,
    check_ids,
    check_int,
    check_non_empty,
    check_same_shape,
    check_same_size,
    check_tensor,
)

Negatives = Union[str, int, Tensor]

# Cosine similarity of a zero vector is 0 (not NaN): norms are clamped here.
COSINE_EPS = 1e-8
_REDUCTIONS = ('sum', 'mean', 'none')


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == 'sum':
        return loss.sum()
    if reduction == 'mean':
        return loss.mean()
    return loss


def bpr_loss(pos_score: Tensor, neg_score: Tensor) -> Tensor:
    r"""The Bayesian Personalized Ranking loss (mean over the batch),

    .. math::
        \mathcal{L}_{\mathrm{BPR}} = \frac{1}{B} \sum_{b=1}^{B}
        \mathrm{softplus}(\hat{y}_{u_b j_b} - \hat{y}_{u_b i_b})
        = -\frac{1}{B} \sum_{b=1}^{B}
        \ln \sigma(\hat{y}_{u_b i_b} - \hat{y}_{u_b j_b}),

    with positive items :math:`i_b` and negative items :math:`j_b`. Equal to
    :class:`torch_geometric.nn.models.lightgcn.BPRLoss` with
    :obj:`lambda_reg=0` called as :obj:`BPRLoss()(pos_score, neg_score)`.

    Args:
        pos_score (torch.Tensor): Scores of the positive pairs :obj:`[B]`.
        neg_score (torch.Tensor): Scores of the negative pairs :obj:`[B]`.
    """
    check_tensor(pos_score, 'pos_score')
    check_tensor(neg_score, 'neg_score')
    check_same_shape(pos_score, neg_score, 'pos_score', 'neg_score')
    check_non_empty(pos_score, 'pos_score')
    return F.softplus(neg_score - pos_score).mean()


def _check_info_nce_args(view: Tensor, item_emb: Tensor, pos_item: Tensor,
                         tau: float, reduction: str) -> None:
    check_tensor(view, 'view', ndim=2)
    check_tensor(item_emb, 'item_emb', ndim=2)
    check_tensor(pos_item, 'pos_item', ndim=1)
    check_non_empty(view, 'view')
    check_non_empty(item_emb, 'item_emb')
    check_same_size(view, item_emb, 'view', 'item_emb')
    if pos_item.numel() != view.size(0):
        raise ValueError(f"'pos_item' must hold one id per row of 'view' "
                         f"(got {pos_item.numel()} ids for {view.size(0)} "
                         f"rows)")
    check_ids(pos_item, item_emb.size(0), 'pos_item',
              f"'item_emb' has only {item_emb.size(0)} rows")
    check_float(tau, 'tau', positive=True)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"'reduction' must be one of {_REDUCTIONS} (got "
                         f"{reduction!r})")


def _candidate_ids(negatives: Negatives, pos_item: Tensor, num_items: int,
                   generator: Optional[torch.Generator]) -> Optional[Tensor]:
    r"""The shared candidate set (sorted, unique), or :obj:`None` for the
    whole item table."""
    if isinstance(negatives, str):
        if negatives == 'full':
            return None
        if negatives == 'in_batch':
            return pos_item.unique()
        raise ValueError(f"'negatives' must be 'full', 'in_batch', an int or "
                         f"a tensor of item ids (got {negatives!r})")
    if isinstance(negatives, bool):
        raise TypeError("'negatives' must not be a bool")
    if isinstance(negatives, int):
        if not 1 <= negatives <= num_items:
            raise ValueError(f"the number of sampled negatives must be in "
                             f"1..{num_items} (the number of items), got "
                             f"{negatives}")
        device = generator.device if generator is not None else \
            pos_item.device
        return sample_distinct(num_items, negatives, generator,
                               device).to(pos_item.device)
    if isinstance(negatives, Tensor):
        if negatives.dim() != 1:
            raise ValueError(f"candidate ids must be one-dimensional (got "
                             f"shape {tuple(negatives.shape)})")
        check_non_empty(negatives, 'negatives')
        check_ids(negatives, num_items, 'negatives',
                  f"'item_emb' has only {num_items} rows")
        return negatives.to(pos_item.device, torch.long).unique()
    raise TypeError(f"'negatives' must be 'full', 'in_batch', an int or a "
                    f"tensor of item ids (got {type(negatives).__name__})")


# Below this fraction of the catalogue, distinct ids are drawn by rejection
# in O(k log k); above it a permutation of the catalogue is as cheap.
_DENSE_SAMPLE_FRACTION = 0.25


def sample_distinct(num_items: int, k: int,
                    generator: Optional[torch.Generator] = None,
                    device: Optional[torch.device] = None) -> Tensor:
    r"""Returns :obj:`k` distinct ids drawn uniformly from
    :obj:`range(num_items)` (every :obj:`k`-subset equally likely), sorted.

    For :obj:`k` up to a quarter of the catalogue the cost is
    :math:`O(k \log k)`, independent of :obj:`num_items`: ids are drawn with
    replacement and only the shortfall left by duplicates is redrawn (the
    procedure treats every id alike, so the set is uniform). Larger
    :obj:`k` take the first :obj:`k` of a random permutation.
    """
    if k > _DENSE_SAMPLE_FRACTION * num_items:
        perm = torch.randperm(num_items, generator=generator, device=device)
        return perm[:k].sort().values
    chosen = torch.randint(num_items, (k, ), generator=generator,
                           device=device).unique()
    while chosen.numel() < k:
        extra = torch.randint(num_items, (k - chosen.numel(), ),
                              generator=generator, device=device)
        chosen = torch.cat([chosen, extra]).unique()
    return chosen


class _LogSumExpMatmul(torch.autograd.Function):
    r"""Row-wise :math:`\log \sum_j \exp(\mathbf{a}_b^\top \mathbf{c}_j)`
    without keeping more than one :obj:`[B, C]` matrix.

    Autograd's :obj:`logsumexp(a @ c.T)` materialises the logits, their
    shifted copy and their exponent, and exponentiates again in backward.
    Here the logits are exponentiated in place against a per-row upper
    bound (Cauchy-Schwarz, so no extra pass for the row maximum when the
    logits are bounded, as they are for cosine similarities), and backward
    turns the saved exponents into the softmax in place before the two
    GEMMs. Under autocast the GEMMs run in the autocast dtype while the
    exponents and sums stay in float32.
    """
    # Past this bound exp(logit - bound) could underflow for every column.
    MAX_BOUND = 30.0

    @staticmethod
    def forward(ctx, a: Tensor, c: Tensor) -> Tensor:
        device_type = a.device.type
        dtype = (torch.get_autocast_dtype(device_type)
                 if torch.is_autocast_enabled(device_type) else a.dtype)
        with torch.autocast(device_type, enabled=False):
            a_c, c_c = a.to(dtype), c.to(dtype)
            exp = (a_c @ c_c.t()).float()
            bound = (a.detach().float().norm(dim=-1) *
                     c.detach().float().norm(dim=-1).max())
            if bool(bound.max() > _LogSumExpMatmul.MAX_BOUND):
                bound = exp.amax(dim=-1)
            exp.sub_(bound.unsqueeze(-1)).exp_()
            total = exp.sum(dim=-1)
        ctx.save_for_backward(a_c, c_c, exp, total)
        return (total.log() + bound).to(a.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        a_c, c_c, exp, total = ctx.saved_tensors
        # d lse_b / d logit_bj = softmax_bj, formed in place.
        exp.mul_((grad.float() / total).unsqueeze(-1))
        prob = exp.to(a_c.dtype)
        grad_a = grad_c = None
        if ctx.needs_input_grad[0]:
            grad_a = prob @ c_c
        if ctx.needs_input_grad[1]:
            grad_c = prob.t() @ a_c
        return grad_a, grad_c


def info_nce_loss(
    view: Tensor,
    item_emb: Tensor,
    pos_item: Tensor,
    tau: float = 0.5,
    negatives: Negatives = 'full',
    reduction: str = 'sum',
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    r"""The InfoNCE loss between generated views and item embeddings,

    .. math::
        \mathcal{L}_{\mathrm{CL}} = -\sum_{b=1}^{B} \log
        \frac{\exp(\cos(\hat{\mathbf{e}}_b, \mathbf{e}_{i_b}) / \tau)}
        {\sum_{j \in \{i_b\} \cup \mathcal{C}}
        \exp(\cos(\hat{\mathbf{e}}_b, \mathbf{e}_j) / \tau)},

    where :math:`\hat{\mathbf{e}}_b` is the view of the positive item
    :math:`i_b` and :math:`\mathcal{C}` is the candidate set. The positive is
    always in the denominator, exactly once. With
    :obj:`negatives='full'` (the authors' form), :math:`\mathcal{C}` is the
    whole item table; this costs :math:`O(B \cdot |\mathcal{I}|)` time and
    memory (one :obj:`[B, num_items]` logit matrix, kept for backward), so
    for large catalogues use a sampled or in-batch candidate set.

    One GEMM against the (once-normalised) candidates, a row-wise
    :obj:`logsumexp`, and the positive logit as a row-wise dot product.

    Args:
        view (torch.Tensor): The generated views :obj:`[B, d]`.
        item_emb (torch.Tensor): The item embedding table
            :obj:`[num_items, d]`.
        pos_item (torch.Tensor): The positive item id of each view
            :obj:`[B]`.
        tau (float, optional): The temperature :math:`\tau > 0`.
            (default: :obj:`0.5`)
        negatives (str or int or torch.Tensor, optional): The candidate set
            :math:`\mathcal{C}`: :obj:`'full'` (every item),
            :obj:`'in_batch'` (the batch's unique positive items), an int
            :obj:`k` (:obj:`k` distinct items sampled uniformly, shared by
            the batch, plus each row's positive) or a tensor of item ids
            (a shared set; duplicates are ignored). (default: :obj:`'full'`)
        reduction (str, optional): :obj:`'sum'` (the authors' form),
            :obj:`'mean'` or :obj:`'none'`. (default: :obj:`'sum'`)
        generator (torch.Generator, optional): The random generator for
            sampled negatives (only used when :obj:`negatives` is an int).
            (default: :obj:`None`)
    """
    _check_info_nce_args(view, item_emb, pos_item, tau, reduction)
    pos_item = pos_item.long()
    candidates = _candidate_ids(negatives, pos_item, item_emb.size(0),
                                generator)

    # 1 / tau is folded into the [B, d] views, not the [B, I] logits.
    view = F.normalize(view, dim=-1, eps=COSINE_EPS) / tau
    if candidates is None:
        cand_emb = F.normalize(item_emb, dim=-1, eps=COSINE_EPS)
        pos_emb = cand_emb[pos_item]
    else:
        # Normalise only the rows that are used.
        cand_emb = F.normalize(item_emb[candidates], dim=-1, eps=COSINE_EPS)
        pos_emb = F.normalize(item_emb[pos_item], dim=-1, eps=COSINE_EPS)

    pos_logit = (view * pos_emb).sum(dim=-1)
    log_denominator = _LogSumExpMatmul.apply(view, cand_emb)
    if candidates is not None:
        # A positive outside the shared set is added to its own row only.
        index = torch.searchsorted(candidates, pos_item).clamp_(
            max=candidates.numel() - 1)
        outside = candidates[index] != pos_item
        log_denominator = torch.where(
            outside, torch.logaddexp(log_denominator, pos_logit),
            log_denominator)
    return _reduce(log_denominator - pos_logit, reduction)


def reconstruction_loss(pred: Tensor, target: Tensor) -> Tensor:
    r"""The diffusion reconstruction loss (mean squared error),

    .. math::
        \mathcal{L}_{\mathrm{rec}} = \frac{1}{B d} \sum_{b=1}^{B}
        \| \hat{\mathbf{e}}_b - \mathbf{e}_{i_b} \|_2^2.

    Args:
        pred (torch.Tensor): The denoiser's predictions :obj:`[B, d]`.
        target (torch.Tensor): The clean item embeddings :obj:`[B, d]`.
    """
    check_tensor(pred, 'pred')
    check_tensor(target, 'target')
    # F.mse_loss would silently broadcast mismatched shapes.
    check_same_shape(pred, target, 'pred', 'target')
    check_non_empty(pred, 'pred')
    return F.mse_loss(pred, target)


def l2_reg_loss(*tensors: Tensor, batch_size: int) -> Tensor:
    r"""The L2 regularisation of the batch's embeddings,

    .. math::
        \mathcal{L}_{\mathrm{reg}} = \frac{1}{2B} \sum_k
        \| \mathbf{X}_k \|_F^2.

    Args:
        *tensors (torch.Tensor): The embeddings to regularise (in the authors'
            code: the batch's user rows and positive item rows).
        batch_size (int): The batch size :math:`B`.
    """
    check_int(batch_size, 'batch_size')
    if not tensors:
        raise ValueError("'l2_reg_loss' needs at least one tensor")
    for k, tensor in enumerate(tensors):
        check_tensor(tensor, f'tensors[{k}]')
    return sum(tensor.pow(2).sum() for tensor in tensors) / (2 * batch_size)


def balance_loss_norm(views: Union[Tensor, Sequence[Tensor]],
                      batch_size: int) -> Tensor:
    r"""The collaboration balance loss in the form of the authors' code
    (:obj:`predicted_x_loss`): the squared norm of the generated views,

    .. math::
        \mathcal{L}_{\mathrm{bal}} = \frac{1}{B} \sum_{k}
        \| \hat{\mathbf{E}}^{(k)} \|_F^2.

    It keeps the generated views small (the paper's figure draws the
    non-squared norm; the code squares it). See :func:`balance_loss_ratio`
    for the form described in the paper's text.

    Args:
        views (torch.Tensor or [torch.Tensor]): The views
            :math:`\hat{\mathbf{E}}^{(k)}` of each channel, :obj:`[B, d]`.
        batch_size (int): The batch size :math:`B`.
    """
    check_int(batch_size, 'batch_size')
    views = [views] if isinstance(views, Tensor) else list(views)
    if not views:
        raise ValueError("'balance_loss_norm' needs at least one view")
    for k, view in enumerate(views):
        check_tensor(view, f'views[{k}]')
    return sum(view.pow(2).sum() for view in views) / batch_size


def _positive_scalar(value: Union[Tensor, float], name: str) -> Tensor:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"'{name}' must be a scalar (got shape "
                             f"{tuple(value.shape)})")
        number = float(value.detach())
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        raise TypeError(f"'{name}' must be a number or a scalar tensor (got "
                        f"{type(value).__name__})")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"'{name}' must be positive and finite (got "
                         f"{number})")
    return value.reshape(()) if isinstance(value, Tensor) else \
        torch.tensor(number)


def balance_loss_ratio(
    rec_loss: Tensor,
    rank_loss: Union[Tensor, float],
    rec_ref: Union[Tensor, float],
    rank_ref: Union[Tensor, float],
    margin: float = 0.0,
) -> Tensor:
    r"""The collaboration balance loss in the form the paper describes: it
    keeps the reconstruction loss from falling much faster than the ranking
    loss. With the relative progress :math:`r_{\mathrm{rec}} =
    \mathcal{L}_{\mathrm{rec}} / \mathcal{L}_{\mathrm{rec}}^{\mathrm{ref}}`
    and :math:`r_{\mathrm{rank}} = \mathcal{L}_{\mathrm{rank}} /
    \mathcal{L}_{\mathrm{rank}}^{\mathrm{ref}}` (references, *e.g.* the
    first-epoch averages, kept by the caller),

    .. math::
        \mathcal{L}_{\mathrm{bal}} = \mathrm{ReLU}\left(
        \log \mathrm{sg}(r_{\mathrm{rank}}) - \log r_{\mathrm{rec}}
        - m \right),

    where :math:`\mathrm{sg}` stops the gradient: the penalty is zero unless
    reconstruction has fallen relatively faster than ranking (by more than
    the margin :math:`m` in log-ratio), and its gradient only reaches the
    reconstruction side (pushing :math:`\mathcal{L}_{\mathrm{rec}}` back
    up). The paper's exact formula was not recovered; this is our reading of
    its description. See :func:`balance_loss_norm` for the authors' code.

    Args:
        rec_loss (torch.Tensor): The current reconstruction loss (scalar).
        rank_loss (torch.Tensor or float): The current ranking loss
            (scalar; detached here).
        rec_ref (torch.Tensor or float): The reconstruction reference
            (detached).
        rank_ref (torch.Tensor or float): The ranking reference (detached).
        margin (float, optional): The tolerated log-ratio :math:`m \geq 0`.
            (default: :obj:`0.0`)
    """
    if not isinstance(rec_loss, Tensor):
        raise TypeError(f"'rec_loss' must be a tensor, so that the penalty "
                        f"has a gradient (got {type(rec_loss).__name__})")
    rec_loss = _positive_scalar(rec_loss, 'rec_loss')
    rank = _positive_scalar(rank_loss, 'rank_loss').detach()
    rec_ref = _positive_scalar(rec_ref, 'rec_ref').detach()
    rank_ref = _positive_scalar(rank_ref, 'rank_ref').detach()
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or \
            not math.isfinite(margin) or margin < 0:
        raise ValueError(f"'margin' must be a non-negative finite number "
                         f"(got {margin!r})")
    device, dtype = rec_loss.device, rec_loss.dtype
    log_rank_progress = (rank.to(device, dtype) / rank_ref.to(device, dtype)
                         ).log()
    log_rec_progress = (rec_loss / rec_ref.to(device, dtype)).log()
    return F.relu(log_rank_progress - log_rec_progress - margin)
