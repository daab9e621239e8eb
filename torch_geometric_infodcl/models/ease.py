import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from torch_geometric_infodcl.models.protocol import check_fit_index
from torch_geometric_infodcl.utils.checks import (
    check_edge_index,
    check_float_candidates,
    check_int,
)
from torch_geometric_infodcl.utils.sparse import (
    compact_index_dtype,
    csr_transpose,
    to_csr,
)

# A log-spaced grid of L2 weights for validation selection (Steck reports
# lambda between 200 and 1000 on ML-20M, Netflix and MSD).
EASE_L2_GRID = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0,
                5000.0)


class EASE(torch.nn.Module):
    r"""The EASE recommender from the `"Embarrassingly Shallow Autoencoders
    for Sparse Data" <https://arxiv.org/abs/1905.03375>`_ paper: an
    item-item weight matrix with a zero diagonal, fitted in closed form to
    the binary user-item matrix :math:`\mathbf{X}`,

    .. math::
        \mathbf{P} = \left( \mathbf{X}^{\top} \mathbf{X} + \lambda
        \mathbf{I} \right)^{-1}, \qquad
        \mathbf{B} = \mathbf{I} - \mathbf{P} \,
        \mathrm{diagMat}\left( \mathbf{1} \oslash \mathrm{diag}(\mathbf{P})
        \right), \qquad \mathrm{diag}(\mathbf{B}) = \mathbf{0},

    scoring :math:`\mathbf{S} = \mathbf{X} \mathbf{B}`. The Gram matrix is
    formed with one sparse product, and the inverse through a float64
    Cholesky factorisation.

    The model has no gradient training (:obj:`closed_form = True`):
    :class:`~torch_geometric_infodcl.train.Trainer` calls
    :meth:`fit` once per candidate L2 weight (a grid given as
    :obj:`l2_weight`), scores each fit on validation exactly as it scores an
    epoch, keeps the best and tests only that one. :meth:`embeddings`
    returns the factors :math:`(\mathbf{X}, \mathbf{B}^{\top})`, so that
    :func:`~torch_geometric_infodcl.metrics.full_rank_metrics` ranks items by
    :math:`\mathbf{X} \mathbf{B}`. Duplicated interactions count once.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        l2_weight (float or sequence of float, optional): The L2 weight
            :math:`\lambda > 0`, or candidates tried in order and selected on
            validation by the trainer. (default: :obj:`EASE_L2_GRID`, nine
            log-spaced values from 10 to 5000)

    Shapes:
        - **input of** :meth:`fit`: (user, item) edges :math:`(2, |E|)`
        - **output of** :meth:`embeddings`:
          :math:`(|\mathcal{U}|, |\mathcal{I}|)`,
          :math:`(|\mathcal{I}|, |\mathcal{I}|)`
    """
    closed_form = True

    def __init__(self, num_users: int, num_items: int,
                 l2_weight: Union[float, Sequence[float]] = EASE_L2_GRID
                 ) -> None:
        super().__init__()
        self.num_users = check_int(num_users, 'num_users')
        self.num_items = check_int(num_items, 'num_items')
        # lambda > 0 keeps X^T X + lambda I invertible.
        self.l2_weights = check_float_candidates(l2_weight, 'l2_weight',
                                                 positive=True)
        # B and the lambda it was fitted with travel with the state_dict, so
        # the best fit is kept and restored like the best epoch of a model.
        self.register_buffer('item_weight', torch.zeros(num_items,
                                                        num_items))
        self.register_buffer('l2_weight', torch.tensor(float('nan'),
                                                        dtype=torch.float64))
        self._gram: Optional[Tuple[Tensor, int, Tensor]] = None

    @property
    def num_fits(self) -> int:
        r"""The number of candidate L2 weights."""
        return len(self.l2_weights)

    def reset_parameters(self) -> None:
        r"""Forgets the fitted weights."""
        self.item_weight.zero_()
        self.l2_weight.fill_(float('nan'))
        self._gram = None

    def interaction_matrix(self, edge_index: Tensor) -> Tensor:
        r"""Returns the binary :math:`\mathbf{X}` :obj:`[num_users,
        num_items]` of the (user, item) :obj:`edge_index` as a sparse CSR
        matrix."""
        check_edge_index(edge_index, self.num_users, self.num_items)
        user, item = edge_index.long()
        ones = torch.ones(user.numel(), device=edge_index.device)
        mat = to_csr(user, item, ones, (self.num_users, self.num_items),
                     index_dtype=compact_index_dtype(
                         self.num_users, self.num_items, user.numel()))
        mat.values().clamp_(max=1.0)  # Duplicates count once.
        return mat

    def gram(self, edge_index: Tensor) -> Tensor:
        r"""Returns :math:`\mathbf{X}^{\top}\mathbf{X}` (float64) of the
        (user, item) :obj:`edge_index`, cached for the same unmodified
        tensor."""
        if self._gram is not None and self._gram[0] is edge_index and \
                self._gram[1] == edge_index._version:
            return self._gram[2]
        x = self.interaction_matrix(edge_index)
        gram = (csr_transpose(x) @ x.to_dense()).double()
        self._gram = (edge_index, edge_index._version, gram)
        return gram

    def fit(self, edge_index: Tensor, index: int = 0) -> None:
        r"""Fits :math:`\mathbf{B}` in closed form to the (user, item)
        training :obj:`edge_index` with the candidate L2 weight
        :obj:`l2_weight[index]`."""
        check_fit_index(index, self.num_fits, 'candidate L2 weight')
        l2_weight = self.l2_weights[index]
        gram = self.gram(edge_index).clone()
        gram.diagonal().add_(l2_weight)
        factor, info = torch.linalg.cholesky_ex(gram)
        if int(info) != 0:
            raise FloatingPointError(
                f"X^T X + {l2_weight} I is not positive definite in float64 "
                f"(Cholesky failed at column {int(info) - 1}); use a larger "
                f"L2 weight")
        precision = torch.cholesky_inverse(factor)
        weight = precision / (-precision.diagonal()).unsqueeze(0)
        weight.diagonal().zero_()
        self.item_weight = weight.to(self.item_weight.dtype)
        self.l2_weight.fill_(l2_weight)

    def selected(self) -> Dict[str, float]:
        r"""Returns the hyperparameters of the fit the model holds
        (:obj:`{"l2_weight": lambda}`)."""
        return {'l2_weight': float(self.l2_weight)}

    def embeddings(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns the factors :math:`\mathbf{X}` (dense) and
        :math:`\mathbf{B}^{\top}`, whose product of rows
        :math:`\mathbf{X}_u \cdot (\mathbf{B}^{\top})_j` is the score of
        item :math:`j` for user :math:`u`."""
        if math.isnan(float(self.l2_weight)):
            raise ValueError("EASE is not fitted: call fit(edge_index) first "
                             "(Trainer does it)")
        x = self.interaction_matrix(edge_index).to_dense()
        return x.to(self.item_weight.dtype), self.item_weight.t()

    def __repr__(self) -> str:
        weights = ', '.join(f'{w:g}' for w in self.l2_weights)
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, l2_weight=({weights}))')
