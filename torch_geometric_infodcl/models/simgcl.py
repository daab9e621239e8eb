from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding

from torch_geometric_infodcl.data.sampling import TrainBatch, check_batch
from torch_geometric_infodcl.models.protocol import require_graph
from torch_geometric_infodcl.nn.losses import (
    bpr_loss,
    info_nce_loss,
    l2_reg_loss,
)
from torch_geometric_infodcl.utils.checks import check_float, check_int
from torch_geometric_infodcl.utils.sparse import (
    bipartite_gcn_norm,
    bipartite_propagate,
)

Layers = List[Tuple[Tensor, Tensor]]


def _layer_mean(layers: Layers) -> Tuple[Tensor, Tensor]:
    users, items = zip(*layers)
    return torch.stack(users).mean(0), torch.stack(items).mean(0)


class SimGCL(torch.nn.Module):
    r"""The SimGCL recommender from the `"Are Graph Augmentations Necessary?
    Simple Graph Contrastive Learning for Recommendation"
    <https://arxiv.org/abs/2112.08679>`_ paper, as its reference code
    (SELFRec) computes it.

    LightGCN propagation over the normalised bipartite graph
    :math:`\tilde{\mathbf{R}} = \mathbf{D}_u^{-1/2} \mathbf{R}
    \mathbf{D}_i^{-1/2}`, optionally perturbed at every layer by uniform
    noise in the embedding's orthant,

    .. math::
        \mathbf{e}^{(l+1)} = \hat{\mathbf{A}} \mathbf{e}^{(l)} +
        \epsilon \, \mathrm{sign}(\hat{\mathbf{A}} \mathbf{e}^{(l)}) \odot
        \frac{\boldsymbol{\Delta}}{\|\boldsymbol{\Delta}\|_2}, \qquad
        \boldsymbol{\Delta} \sim \mathcal{U}(0, 1)^d,
        \qquad \mathbf{e} = \frac{1}{L} \sum_{l=1}^{L} \mathbf{e}^{(l)}

    (layer 0 left out of the mean). Each batch runs one clean propagation
    for BPR and two perturbed ones, :math:`'` and :math:`''`, for InfoNCE
    over the batch's unique users :math:`\mathcal{U}_B` and, separately, its
    unique positive items :math:`\mathcal{I}_B` (cosine similarity, in-batch
    negatives):

    .. math::
        \mathcal{L} = \mathcal{L}_{\mathrm{BPR}} + \lambda \left(
        \mathcal{L}^{\mathcal{U}_B}_{\mathrm{CL}} +
        \mathcal{L}^{\mathcal{I}_B}_{\mathrm{CL}} \right) +
        \frac{\mu}{2B} \left( \| \mathbf{P}_{u} \|_F^2 +
        \| \mathbf{E}_{i^+} \|_F^2 + \| \mathbf{E}_{i^-} \|_F^2 \right),
        \qquad
        \mathcal{L}^{\mathcal{S}}_{\mathrm{CL}} = \frac{1}{|\mathcal{S}|}
        \sum_{s \in \mathcal{S}} -\log
        \frac{\exp(\cos(\mathbf{e}'_s, \mathbf{e}''_s) / \tau)}
        {\sum_{t \in \mathcal{S}} \exp(\cos(\mathbf{e}'_s, \mathbf{e}''_t) /
        \tau)}

    where the L2 term runs over the batch's layer-0 rows (as in LightGCN; the
    reference code instead adds :math:`\mu` times the unsquared norms of the
    propagated user and positive rows). The normalised adjacency is built
    once by :meth:`set_graph` and kept as CSR (with its transpose for the
    backward pass); evaluation uses a clean propagation. The reference
    code's training settings (Adam, learning rate :obj:`1e-3`, batch
    :obj:`2048`) are the CLI defaults of this model
    (:obj:`training_defaults`).

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        dim (int, optional): The embedding size. (default: :obj:`64`)
        num_layers (int, optional): The number of propagation layers
            :math:`L \geq 1`. (default: :obj:`3`)
        reg_weight (float, optional): The L2 weight :math:`\mu`.
            (default: :obj:`1e-4`)
        cl_weight (float, optional): The contrastive weight :math:`\lambda`.
            (default: :obj:`0.5`)
        tau (float, optional): The InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.2`)
        eps (float, optional): The noise magnitude :math:`\epsilon`.
            (default: :obj:`0.1`)
        edge_index (torch.Tensor, optional): The (user, item) training edges
            :obj:`[2, E]`; otherwise set later with :meth:`set_graph`.
            (default: :obj:`None`)

    Shapes:
        - **input of** :meth:`loss`: a
          :class:`~torch_geometric_infodcl.data.sampling.TrainBatch` of
          :math:`B` triples
        - **output of** :meth:`embeddings`: :math:`(|\mathcal{U}|, d)`,
          :math:`(|\mathcal{I}|, d)`
    """
    training_defaults = {'lr': 1e-3, 'batch_size': 2048}

    def __init__(self, num_users: int, num_items: int, dim: int = 64,
                 num_layers: int = 3, reg_weight: float = 1e-4,
                 cl_weight: float = 0.5, tau: float = 0.2, eps: float = 0.1,
                 edge_index: Optional[Tensor] = None) -> None:
        super().__init__()
        self.num_users = check_int(num_users, 'num_users')
        self.num_items = check_int(num_items, 'num_items')
        self.dim = check_int(dim, 'dim')
        # The final embedding is the mean of layers 1..L: L >= 1.
        self.num_layers = check_int(num_layers, 'num_layers')
        self.reg_weight = check_float(reg_weight, 'reg_weight')
        self.cl_weight = check_float(cl_weight, 'cl_weight')
        self.tau = check_float(tau, 'tau', positive=True)
        self.eps = check_float(eps, 'eps')
        self.user_emb = Embedding(self.num_users, self.dim)
        self.item_emb = Embedding(self.num_items, self.dim)
        self.register_buffer('adj', None, persistent=False)
        self.register_buffer('adj_t', None, persistent=False)
        self._graph: Optional[Tuple[Tensor, int]] = None
        self.reset_parameters()
        if edge_index is not None:
            self.set_graph(edge_index)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module (Xavier uniform,
        as in the reference code)."""
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)

    def set_graph(self, edge_index: Tensor) -> None:
        r"""Sets the (user, item) training edges :obj:`[2, E]` that
        :meth:`loss` propagates over and normalises them once."""
        self.adj, self.adj_t = self._normalize(edge_index)
        # The same, unmodified tensor at evaluation re-uses the matrices.
        self._graph = (edge_index, edge_index._version)

    def _normalize(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        weight = self.user_emb.weight
        return bipartite_gcn_norm(edge_index.to(weight.device),
                                  self.num_users, self.num_items,
                                  dtype=weight.dtype)

    def _training_graph(self) -> Tuple[Tensor, Tensor]:
        return require_graph(self, self.adj), self.adj_t

    def perturb(self, user: Tensor, item: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Adds :math:`\epsilon \, \mathrm{sign}(\mathbf{e}) \odot
        \boldsymbol{\Delta} / \|\boldsymbol{\Delta}\|_2` to every row; the
        noise of all users and items is drawn as one
        :obj:`[num_users + num_items, d]` uniform tensor (users first) from
        the global generator."""
        noise = F.normalize(torch.rand(user.size(0) + item.size(0),
                                       user.size(1), device=user.device,
                                       dtype=user.dtype), dim=-1)
        noise_user, noise_item = noise.split([user.size(0), item.size(0)])
        return (user + user.sign() * noise_user * self.eps,
                item + item.sign() * noise_item * self.eps)

    def propagate(self, mats: Tuple[Tensor, Tensor],
                  perturbed: bool = False) -> Layers:
        r"""Returns the (user, item) embeddings of layers :math:`1..L`
        propagated over the normalised :obj:`mats`
        (:math:`\tilde{\mathbf{R}}`, :math:`\tilde{\mathbf{R}}^{\top}`),
        perturbed at every layer if :obj:`perturbed`."""
        user, item = self.user_emb.weight, self.item_emb.weight
        layers = []
        for _ in range(self.num_layers):
            user, item = bipartite_propagate(mats, user, item)
            if perturbed:
                user, item = self.perturb(user, item)
            layers.append((user, item))
        return layers

    def contrastive_loss(self, view1: Tensor, view2: Tensor,
                         index: Tensor) -> Tensor:
        r"""In-batch InfoNCE between the rows :obj:`index` (unique ids) of
        two views: each row's positive is its own other view, its negatives
        the other view of the remaining rows."""
        return info_nce_loss(view1[index], view2, index, tau=self.tau,
                             negatives='in_batch', reduction='mean')

    def _bpr_and_reg(self, batch: TrainBatch, user: Tensor,
                     item: Tensor) -> Tuple[Tensor, Tensor]:
        user_rows = user[batch.user]
        bpr = bpr_loss((user_rows * item[batch.pos_item]).sum(-1),
                       (user_rows * item[batch.neg_item]).sum(-1))
        reg = l2_reg_loss(self.user_emb(batch.user),
                          self.item_emb(batch.pos_item),
                          self.item_emb(batch.neg_item),
                          batch_size=batch.user.numel())
        return bpr, reg

    def loss(self, batch: TrainBatch) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""Computes the training objective on a batch of triples.

        Returns:
            The total :math:`\mathcal{L}` and the unweighted terms
            :obj:`bpr`, :obj:`cl` (user + item InfoNCE) and :obj:`reg`.
        """
        check_batch(batch, self.num_users, self.num_items)
        mats = self._training_graph()
        bpr, reg = self._bpr_and_reg(batch, *_layer_mean(self.propagate(mats)))
        user1, item1 = _layer_mean(self.propagate(mats, perturbed=True))
        user2, item2 = _layer_mean(self.propagate(mats, perturbed=True))
        cl = (self.contrastive_loss(user1, user2, batch.user.unique()) +
              self.contrastive_loss(item1, item2, batch.pos_item.unique()))
        total = bpr + self.cl_weight * cl + self.reg_weight * reg
        return total, dict(bpr=bpr, cl=cl, reg=reg)

    def embeddings(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns the clean propagated user and item embeddings (mean of
        layers :math:`1..L`) over the (user, item) :obj:`edge_index`."""
        if self._graph is not None and self._graph[0] is edge_index and \
                self._graph[1] == edge_index._version and \
                self.adj is not None:
            mats = (self.adj, self.adj_t)
        else:
            mats = self._normalize(edge_index)
        return _layer_mean(self.propagate(mats))

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        r"""Returns the scores of the pairs :obj:`(user, item)` on the clean
        propagation over the training graph."""
        user_emb, item_emb = _layer_mean(
            self.propagate(self._training_graph()))
        return (user_emb[user] * item_emb[item]).sum(-1)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, dim={self.dim}, '
                f'num_layers={self.num_layers})')


class XSimGCL(SimGCL):
    r"""The XSimGCL recommender from the `"XSimGCL: Towards Extremely Simple
    Graph Contrastive Learning for Recommendation"
    <https://arxiv.org/abs/2209.02544>`_ paper, as its reference code
    (SELFRec) computes it: :class:`SimGCL` with a single perturbed
    propagation per batch, BPR on its final embeddings and InfoNCE between
    the final embeddings and those of layer :math:`l^*` (cross-layer
    contrast),

    .. math::
        \mathcal{L} = \mathcal{L}_{\mathrm{BPR}}(\mathbf{e}') + \lambda
        \left( \mathcal{L}^{\mathcal{U}_B}_{\mathrm{CL}}(\mathbf{e}',
        \mathbf{e}'^{(l^*)}) + \mathcal{L}^{\mathcal{I}_B}_{\mathrm{CL}}(
        \mathbf{e}', \mathbf{e}'^{(l^*)}) \right) + \frac{\mu}{2B} \left(
        \| \mathbf{P}_{u} \|_F^2 + \| \mathbf{E}_{i^+} \|_F^2 +
        \| \mathbf{E}_{i^-} \|_F^2 \right)

    with :math:`\mathbf{e}'` the mean of the perturbed layers
    :math:`1..L`. Evaluation uses a clean propagation.

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        dim (int, optional): The embedding size. (default: :obj:`64`)
        num_layers (int, optional): The number of propagation layers
            :math:`L \geq 1`. (default: :obj:`3`)
        reg_weight (float, optional): The L2 weight :math:`\mu`.
            (default: :obj:`1e-4`)
        cl_weight (float, optional): The contrastive weight :math:`\lambda`.
            (default: :obj:`0.2`)
        tau (float, optional): The InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.15`)
        eps (float, optional): The noise magnitude :math:`\epsilon`.
            (default: :obj:`0.2`)
        cl_layer (int, optional): The contrasted layer :math:`l^*`, from
            1 to :obj:`num_layers`. (default: :obj:`1`)
        edge_index (torch.Tensor, optional): The (user, item) training edges
            :obj:`[2, E]`; otherwise set later with :meth:`set_graph`.
            (default: :obj:`None`)
    """
    def __init__(self, num_users: int, num_items: int, dim: int = 64,
                 num_layers: int = 3, reg_weight: float = 1e-4,
                 cl_weight: float = 0.2, tau: float = 0.15, eps: float = 0.2,
                 cl_layer: int = 1,
                 edge_index: Optional[Tensor] = None) -> None:
        super().__init__(num_users, num_items, dim, num_layers, reg_weight,
                         cl_weight, tau, eps, edge_index)
        self.cl_layer = check_int(cl_layer, 'cl_layer')
        if cl_layer > num_layers:
            raise ValueError(f"'cl_layer' must be in 1..num_layers = "
                             f"1..{num_layers} (got {cl_layer})")

    def loss(self, batch: TrainBatch) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""Computes the training objective on a batch of triples.

        Returns:
            The total :math:`\mathcal{L}` and the unweighted terms
            :obj:`bpr`, :obj:`cl` (user + item InfoNCE) and :obj:`reg`.
        """
        check_batch(batch, self.num_users, self.num_items)
        layers = self.propagate(self._training_graph(), perturbed=True)
        user, item = _layer_mean(layers)
        user_cl, item_cl = layers[self.cl_layer - 1]
        bpr, reg = self._bpr_and_reg(batch, user, item)
        cl = (self.contrastive_loss(user, user_cl, batch.user.unique()) +
              self.contrastive_loss(item, item_cl, batch.pos_item.unique()))
        total = bpr + self.cl_weight * cl + self.reg_weight * reg
        return total, dict(bpr=bpr, cl=cl, reg=reg)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, dim={self.dim}, '
                f'num_layers={self.num_layers}, cl_layer={self.cl_layer})')
