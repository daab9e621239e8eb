from typing import Dict, Optional, Tuple

import torch
from torch import Tensor
from torch.nn import Embedding
from torch_geometric.nn.models import LightGCN

from torch_geometric_infodcl.data.sampling import TrainBatch, check_batch
from torch_geometric_infodcl.models.protocol import require_graph
from torch_geometric_infodcl.nn.lightgcn_inference import LightGCNInference
from torch_geometric_infodcl.nn.losses import bpr_loss, l2_reg_loss
from torch_geometric_infodcl.utils.checks import check_float, check_int
from torch_geometric_infodcl.utils.sparse import bipartite_adjacency, spmm


def _check_sizes(num_users: int, num_items: int, dim: int, num_layers: int,
                 reg_weight: float) -> None:
    for name, value, low in [('num_users', num_users, 1),
                             ('num_items', num_items, 1), ('dim', dim, 1),
                             ('num_layers', num_layers, 0)]:
        check_int(value, name, min_value=low)
    check_float(reg_weight, 'reg_weight')


class MFBPR(torch.nn.Module):
    r"""Matrix factorisation trained with the Bayesian Personalized Ranking
    loss, the graph-free backbone of `"InfoDCL: Informative Noise Enhanced
    Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ without its diffusion channels.

    Users and items are embedded in tables :math:`\mathbf{P}` and
    :math:`\mathbf{E}` (initialised :math:`\mathcal{N}(0, 0.1^2)`) and trained
    on raw embeddings, without the graph:

    .. math::
        \mathcal{L} = \frac{1}{B} \sum_{b=1}^{B}
        \mathrm{softplus}\left(\mathbf{p}_u^{\top}\mathbf{e}_{i^-} -
        \mathbf{p}_u^{\top}\mathbf{e}_{i^+}\right) + \lambda
        \frac{1}{2B} \left( \| \mathbf{P}_{u} \|_F^2 +
        \| \mathbf{E}_{i^+} \|_F^2 + \| \mathbf{E}_{i^-} \|_F^2 \right)

    where the norms run over the batch rows. At inference only,
    :meth:`embeddings` propagates the tables with
    :class:`~torch_geometric_infodcl.nn.lightgcn_inference.LightGCNInference`
    over the training graph (:obj:`num_layers=0` gives plain MF).

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        dim (int, optional): The embedding size. (default: :obj:`64`)
        num_layers (int, optional): The number of propagation layers used at
            inference. (default: :obj:`2`)
        reg_weight (float, optional): The L2 weight :math:`\lambda`.
            (default: :obj:`1e-4`)
    """
    def __init__(self, num_users: int, num_items: int, dim: int = 64,
                 num_layers: int = 2, reg_weight: float = 1e-4) -> None:
        super().__init__()
        _check_sizes(num_users, num_items, dim, num_layers, reg_weight)
        self.num_users = num_users
        self.num_items = num_items
        self.dim = dim
        self.num_layers = num_layers
        self.reg_weight = float(reg_weight)
        self.user_emb = Embedding(num_users, dim)
        self.item_emb = Embedding(num_items, dim)
        self.propagation = LightGCNInference(num_layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        torch.nn.init.normal_(self.user_emb.weight, std=0.1)
        torch.nn.init.normal_(self.item_emb.weight, std=0.1)
        self.propagation.reset_parameters()

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        r"""Returns the training scores :math:`\mathbf{p}_u^{\top}
        \mathbf{e}_i` of the pairs :obj:`(user, item)` on raw embeddings."""
        return (self.user_emb(user) * self.item_emb(item)).sum(dim=-1)

    def loss(self, batch: TrainBatch) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""Computes the training objective on a batch of triples.

        Returns:
            The total :math:`\mathcal{L}` and the unweighted terms
            :obj:`bpr` and :obj:`reg`.
        """
        check_batch(batch, self.num_users, self.num_items)
        user = self.user_emb(batch.user)
        pos = self.item_emb(batch.pos_item)
        neg = self.item_emb(batch.neg_item)
        bpr = bpr_loss((user * pos).sum(-1), (user * neg).sum(-1))
        reg = l2_reg_loss(user, pos, neg, batch_size=batch.user.numel())
        return bpr + self.reg_weight * reg, dict(bpr=bpr, reg=reg)

    def embeddings(
        self,
        edge_index: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        r"""Returns the user and item embeddings used for scoring: the tables
        propagated over the (user, item) training :obj:`edge_index` (the raw
        tables when :obj:`num_layers=0` or :obj:`edge_index` is
        :obj:`None`)."""
        user, item = self.user_emb.weight, self.item_emb.weight
        if self.num_layers == 0 or edge_index is None:
            return user, item
        return self.propagation((user, item), edge_index)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, dim={self.dim}, '
                f'num_layers={self.num_layers})')


class PyGLightGCN(torch.nn.Module):
    r"""PyG's :class:`~torch_geometric.nn.models.LightGCN` (`"LightGCN:
    Simplifying and Powering Graph Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_) behind the model protocol of
    `"InfoDCL: Informative Noise Enhanced Diffusion Based Contrastive
    Learning" <https://arxiv.org/abs/2512.16576>`_, trained as PyG's
    :obj:`examples/lightgcn.py` trains it.

    Users are nodes :math:`0, \ldots, |\mathcal{U}|-1` and items nodes
    :math:`|\mathcal{U}|, \ldots, |\mathcal{U}|+|\mathcal{I}|-1` of one
    homogeneous graph holding every training edge in both directions. The
    propagated embeddings :math:`\mathbf{x}` of
    :meth:`~torch_geometric.nn.models.LightGCN.get_embedding` are trained with
    :meth:`~torch_geometric.nn.models.LightGCN.recommendation_loss`:

    .. math::
        \mathcal{L} = \frac{1}{B} \sum_{b=1}^{B}
        -\ln \sigma\left(\mathbf{x}_u^{\top}\mathbf{x}_{i^+} -
        \mathbf{x}_u^{\top}\mathbf{x}_{i^-}\right) + \frac{\lambda}{B}
        \| \mathbf{X}^{(0)}_{\mathcal{B}} \|_F^2

    where :math:`\mathcal{B}` is the set of distinct nodes of the batch
    (PyG's :obj:`node_id=edge_label_index.unique()`, no factor
    :math:`\frac{1}{2}`). Initialisation is PyG's (Xavier uniform).

    The propagation graph for training is given once, either at
    construction (:obj:`edge_index`) or lazily with :meth:`set_graph`
    (:class:`~torch_geometric_infodcl.train.Trainer` calls it with the
    training edges); :meth:`loss` raises an error while no graph is set. The
    graph is normalised once,
    :math:`\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`, and kept as a
    sparse CSR matrix (a non-persistent buffer, so it follows
    :meth:`~torch.nn.Module.to` but stays out of the
    :meth:`~torch.nn.Module.state_dict`): the same embeddings as
    :class:`~torch_geometric.nn.models.LightGCN` on the :obj:`edge_index`,
    without re-normalising at every layer of every step. Training computes
    :meth:`~torch_geometric.nn.models.LightGCN.get_embedding`'s layer sum
    with the module's own :obj:`alpha` and weights, but multiplies by the
    symmetric matrix through :func:`~torch_geometric_infodcl.utils.sparse.
    spmm` with the matrix as its own transpose, so the backward pass does
    not transpose the CSR matrix at every layer of every step (an ML-1M
    epoch at batch 8,192: 15.8 s before, 3.9 s after; equal to PyG's
    result, tested).

    Args:
        num_users (int): The number of users.
        num_items (int): The number of items.
        dim (int, optional): The embedding size. (default: :obj:`64`)
        num_layers (int, optional): The number of
            :class:`~torch_geometric.nn.conv.LGConv` layers.
            (default: :obj:`3`)
        reg_weight (float, optional): PyG's :obj:`lambda_reg`.
            (default: :obj:`1e-4`)
        edge_index (torch.Tensor, optional): The (user, item) training edges
            :obj:`[2, E]` to train on. (default: :obj:`None`)
    """
    def __init__(self, num_users: int, num_items: int, dim: int = 64,
                 num_layers: int = 3, reg_weight: float = 1e-4,
                 edge_index: Optional[Tensor] = None) -> None:
        super().__init__()
        _check_sizes(num_users, num_items, dim, num_layers, reg_weight)
        self.num_users = num_users
        self.num_items = num_items
        self.dim = dim
        self.num_layers = num_layers
        self.reg_weight = float(reg_weight)
        # `normalize=False`: the adjacency handed over is normalised already.
        self.lightgcn = LightGCN(num_users + num_items, dim, num_layers,
                                 normalize=False)
        self.register_buffer('adj', None, persistent=False)
        if edge_index is not None:
            self.set_graph(edge_index)

    def reset_parameters(self) -> None:
        r"""Resets all learnable parameters of the module."""
        self.lightgcn.reset_parameters()

    def normalized_adjacency(self, edge_index: Tensor) -> Tensor:
        r"""Returns :math:`\mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` of
        the homogeneous graph of the (user, item) :obj:`edge_index` (items
        offset by :obj:`num_users`, every edge in both directions) as a
        sparse CSR matrix, normalised as
        :class:`~torch_geometric.nn.conv.LGConv` does (see
        :func:`~torch_geometric_infodcl.utils.sparse.bipartite_adjacency`)."""
        return bipartite_adjacency(edge_index, self.num_users, self.num_items,
                                   dtype=self.lightgcn.embedding.weight.dtype)

    def set_graph(self, edge_index: Tensor) -> None:
        r"""Sets the (user, item) training edges :obj:`[2, E]` that
        :meth:`loss` propagates over."""
        self.adj = self.normalized_adjacency(edge_index)

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        r"""Returns the scores :math:`\mathbf{x}_u^{\top}\mathbf{x}_i` of the
        pairs :obj:`(user, item)`, propagated over the training graph."""
        return self._rank(torch.stack([user, item + self.num_users]))

    def loss(self, batch: TrainBatch) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""Computes PyG's recommendation loss on a batch of triples.

        Returns:
            The total and the terms :obj:`bpr` and :obj:`reg` (the weighted
            L2 part, i.e. total minus BPR).
        """
        check_batch(batch, self.num_users, self.num_items)
        user = batch.user.long()
        pos = batch.pos_item.long() + self.num_users
        neg = batch.neg_item.long() + self.num_users
        edge_label_index = torch.stack(
            [torch.cat([user, user]), torch.cat([pos, neg])])
        pos_rank, neg_rank = self._rank(edge_label_index).chunk(2)
        total = self.lightgcn.recommendation_loss(
            pos_rank, neg_rank, node_id=edge_label_index.unique(),
            lambda_reg=self.reg_weight)
        bpr = bpr_loss(pos_rank, neg_rank)
        return total, dict(bpr=bpr, reg=total - bpr)

    def embeddings(self, edge_index: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns the user and item embeddings of
        :meth:`~torch_geometric.nn.models.LightGCN.get_embedding` over the
        (user, item) :obj:`edge_index`."""
        out = self._propagated(self.normalized_adjacency(edge_index))
        return out[:self.num_users], out[self.num_users:]

    def _rank(self, edge_label_index: Tensor) -> Tensor:
        # LightGCN.forward on the training graph.
        out = self._propagated(self._training_graph())
        return (out[edge_label_index[0]] * out[edge_label_index[1]]).sum(-1)

    def _propagated(self, adj: Tensor) -> Tensor:
        # LightGCN.get_embedding; `adj` is symmetric, so it is the cached
        # transpose that spmm's backward multiplies by.
        lightgcn = self.lightgcn
        x = lightgcn.embedding.weight
        out = x * lightgcn.alpha[0]
        for i in range(self.num_layers):
            x = spmm(adj, x, adj)
            out = out + x * lightgcn.alpha[i + 1]
        return out

    def _training_graph(self) -> Tensor:
        return require_graph(self, self.adj)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, dim={self.dim}, '
                f'num_layers={self.num_layers})')
