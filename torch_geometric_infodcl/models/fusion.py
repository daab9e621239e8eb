import math
from typing import Dict, Sequence, Tuple, Union

import torch
from torch import Tensor

from torch_geometric_infodcl.models.ease import EASE
from torch_geometric_infodcl.models.protocol import check_fit_index
from torch_geometric_infodcl.utils.checks import (
    check_finite,
    check_float,
    check_float_candidates,
    check_floating,
    check_int,
    check_tensor,
)

# Candidate fusion weights, in units of the two scores' root mean squares:
# 0 (the trained model alone) and factors of two from 1/64 to 8.
FUSION_GRID = (0.0, ) + tuple(2.0**k for k in range(-6, 4))


def score_rms(user_emb: Tensor, item_emb: Tensor) -> float:
    r"""Returns the root mean square of all :math:`|\mathcal{U}| \cdot
    |\mathcal{I}|` scores :math:`\mathbf{u}^{\top}\mathbf{i}` without forming
    them: :math:`\|\mathbf{U}\mathbf{I}^{\top}\|_F^2 = \langle
    \mathbf{U}^{\top}\mathbf{U}, \mathbf{I}^{\top}\mathbf{I} \rangle_F`."""
    user, item = user_emb.double(), item_emb.double()
    square = ((user.t() @ user) * (item.t() @ item)).sum()
    return math.sqrt(float(square) / (user.size(0) * item.size(0)))


class EASEFusion(torch.nn.Module):
    r"""The scores of a trained recommender fused with those of the
    closed-form :class:`~torch_geometric_infodcl.models.ease.EASE` model
    (`"Embarrassingly Shallow Autoencoders for Sparse Data"
    <https://arxiv.org/abs/1905.03375>`_), a late fusion of an embedding
    model with an item-item model,

    .. math::
        s_{ui} = \frac{\mathbf{u}_u^{\top} \mathbf{i}_i}{\sigma_{\mathrm{emb}}}
        + w \, \frac{(\mathbf{X} \mathbf{B})_{ui}}{\sigma_{\mathrm{EASE}}},

    where :math:`\mathbf{u}_u, \mathbf{i}_i` are the trained model's factors
    (*e.g.*, a finished run's best-epoch :meth:`embeddings`),
    :math:`\mathbf{X}\mathbf{B}` are EASE's scores fitted to the training
    graph, and each :math:`\sigma` is the root mean square of its scores
    over all user-item pairs (:func:`score_rms`), so that :math:`w` weighs
    the two on a common scale.

    The fusion has no gradient training (:obj:`closed_form = True`): EASE is
    fitted once, and :class:`~torch_geometric_infodcl.train.Trainer` scores
    each candidate weight of :obj:`weight` on validation in place of an
    epoch, keeps the best and tests only that one. :math:`w = 0` is the
    trained model alone, so a grid that holds it can only match or improve
    the model's validation score.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        user_emb (torch.Tensor): The trained model's user factors.
        item_emb (torch.Tensor): The trained model's item factors.
        weight (float or sequence of float, optional): The fusion weight
            :math:`w \geq 0`, or candidates tried in order and selected on
            validation by the trainer. (default: :obj:`FUSION_GRID`, 0 and
            1/64 to 8 in factors of two)
        l2_weight (float, optional): EASE's L2 weight :math:`\lambda`.
            (default: :obj:`500.0`)

    Shapes:
        - **input:** user factors :math:`(|\mathcal{U}|, d)`, item factors
          :math:`(|\mathcal{I}|, d)`; (user, item) edges :math:`(2, |E|)` in
          :meth:`fit`
        - **output of** :meth:`embeddings`: :math:`(|\mathcal{U}|, d +
          |\mathcal{I}|)`, :math:`(|\mathcal{I}|, d + |\mathcal{I}|)` (the
          first :math:`d` columns alone for :math:`w = 0`)
    """
    closed_form = True

    def __init__(self, num_users: int, num_items: int, user_emb: Tensor,
                 item_emb: Tensor,
                 weight: Union[float, Sequence[float]] = FUSION_GRID,
                 l2_weight: float = 500.0) -> None:
        super().__init__()
        self.num_users = check_int(num_users, 'num_users')
        self.num_items = check_int(num_items, 'num_items')
        for name, emb, rows in (('user_emb', user_emb, num_users),
                                ('item_emb', item_emb, num_items)):
            check_finite(check_floating(check_tensor(emb, name, ndim=2),
                                        name), name)
            if emb.size(0) != rows:
                raise ValueError(f"'{name}' must have {rows} rows, one per "
                                 f"{name[:4]} (got {emb.size(0)})")
        if user_emb.size(1) != item_emb.size(1):
            raise ValueError(f"'user_emb' and 'item_emb' must have the same "
                             f"width (got {user_emb.size(1)} and "
                             f"{item_emb.size(1)})")
        self.weights = check_float_candidates(weight, 'weight')
        self.ease = EASE(num_users, num_items,
                         l2_weight=check_float(l2_weight, 'l2_weight',
                                               positive=True))
        # The factors are data here, not parameters: buffers keep them in
        # the state_dict (and the best fit's checkpoint) without training.
        self.register_buffer('user_emb', user_emb.detach().float().clone())
        self.register_buffer('item_emb', item_emb.detach().float().clone())
        self.register_buffer('weight', torch.tensor(float('nan'),
                                                    dtype=torch.float64))
        self.register_buffer('rms', torch.full((2, ), float('nan'),
                                               dtype=torch.float64))

    @property
    def num_fits(self) -> int:
        r"""The number of candidate fusion weights."""
        return len(self.weights)

    def reset_parameters(self) -> None:
        r"""Forgets EASE's fit and the selected weight."""
        self.ease.reset_parameters()
        self.weight.fill_(float('nan'))
        self.rms.fill_(float('nan'))

    def fit(self, edge_index: Tensor, index: int = 0) -> None:
        r"""Fits EASE to the (user, item) training :obj:`edge_index` (once)
        and takes the candidate weight :obj:`weight[index]`."""
        check_fit_index(index, self.num_fits, 'candidate weight')
        if bool(torch.isnan(self.rms).any()):
            self.ease.fit(edge_index)
            x = self.ease.interaction_matrix(edge_index)
            ease_scores = x @ self.ease.item_weight
            self.rms[0] = score_rms(self.user_emb, self.item_emb)
            self.rms[1] = ease_scores.square().mean().sqrt().double()
            for name, value in zip(('trained model', 'EASE'), self.rms):
                if not float(value) > 0:
                    raise ValueError(f"the {name}'s scores are all zero: "
                                     f"nothing to fuse")
        self.weight.fill_(self.weights[index])

    def selected(self) -> Dict[str, float]:
        r"""Returns the fusion weight and EASE's L2 weight of the fit the
        model holds."""
        return {'weight': float(self.weight), **self.ease.selected()}

    def embeddings(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns factors whose inner products are the fused scores
        :math:`s_{ui}`."""
        weight = float(self.weight)
        if math.isnan(weight):
            raise ValueError("EASEFusion is not fitted: call "
                             "fit(edge_index) first (Trainer does it)")
        user = self.user_emb / float(self.rms[0])
        if weight == 0:
            return user, self.item_emb
        x, item_weight_t = self.ease.embeddings(edge_index)
        scale = weight / float(self.rms[1])
        return (torch.cat([user, scale * x], dim=1),
                torch.cat([self.item_emb, item_weight_t], dim=1))

    def __repr__(self) -> str:
        weights = ', '.join(f'{w:g}' for w in self.weights)
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, weight=({weights}), '
                f'l2_weight={self.ease.l2_weights[0]:g})')
