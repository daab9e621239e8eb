from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, ModuleDict

from torch_geometric_infodcl.data.sampling import TrainBatch, check_batch
from torch_geometric_infodcl.models.infodcl import check_item_metadata
from torch_geometric_infodcl.nn.diffusion import DENOISERS, DiffusionDenoiser
from torch_geometric_infodcl.nn.lightgcn_inference import LightGCNInference
from torch_geometric_infodcl.nn.losses import (
    COSINE_EPS,
    bpr_loss,
    info_nce_loss,
    l2_reg_loss,
    reconstruction_loss,
)
from torch_geometric_infodcl.nn.psnet import PSNetNoise
from torch_geometric_infodcl.utils.checks import (
    check_edge_index,
    check_float,
    check_floating,
    check_int,
)

NOISE_KINDS = ('psnet', 'gaussian', 'uniform')
REC_LOSSES = ('softmax', 'bpr')
SIDES = ('user', 'item')
MetadataArg = Optional[Union[Mapping[str, Tensor], Sequence[Tensor], Tensor]]
# Raw noise draws of the two views of each side: {'user': [2, n_u, d], ...}.
NoiseDraws = Dict[str, Tensor]


def _concat_metadata(metadata: MetadataArg, num_items: int) -> Optional[Tensor]:
    r"""All metadata channels side by side, :obj:`[num_items, sum d_k]`."""
    if metadata is None:
        return None
    if isinstance(metadata, Tensor):
        channels = {'metadata': metadata}
    elif isinstance(metadata, Mapping):
        channels = dict(metadata)
    else:
        channels = {f'metadata[{k}]': m for k, m in enumerate(metadata)}
    if not channels:
        return None
    for name, meta in channels.items():
        check_item_metadata(meta, name, num_items)
        check_floating(meta, f'metadata[{name}]')
    return torch.cat([m.detach().to(torch.get_default_dtype())
                      for m in channels.values()], dim=1)


class GraphInfoDCL(torch.nn.Module):
    r"""InfoDCL trained with the graph: informative-noise contrastive views
    of the *propagated* user and item embeddings, an extension of `"InfoDCL:
    Informative Noise Enhanced Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ in the style of `"Are Graph
    Augmentations Necessary? Simple Graph Contrastive Learning for
    Recommendation" <https://arxiv.org/abs/2112.08679>`_ (SimGCL).

    Every training step propagates the layer-0 tables :math:`\mathbf{E}^{(0)}
    = [\mathbf{P}; \mathbf{Q}]` once over the normalised training graph
    :math:`\hat{\mathbf{A}}` (LightGCN, :class:`LightGCNInference`),

    .. math::
        \mathbf{H} = \sum_{l=0}^{L} \alpha_l \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)},

    with :math:`\alpha_l = 1/(L+1)`, or :math:`\alpha_0 = 0` and
    :math:`\alpha_{l \geq 1} = 1/L` when :obj:`skip_ego=True`. The
    recommendation loss scores the batch on :math:`\mathbf{H}`: a softmax over
    the item catalogue on cosine similarities,

    .. math::
        \mathcal{L}_{\mathrm{rec}} = -\frac{1}{B} \sum_{(u, i)} \log
        \frac{\exp(\cos(\mathbf{h}_u, \mathbf{h}_i) / \tau_r)}
        {\sum_{j \in \mathcal{C}} \exp(\cos(\mathbf{h}_u, \mathbf{h}_j) /
        \tau_r)},

    or BPR on inner products. The same :math:`\mathbf{H}` serves the two
    contrastive views of the batch's unique users and unique positive items
    (no second propagation). For a node with propagated embedding
    :math:`\mathbf{h}` and auxiliary metadata :math:`\mathbf{m}`, view
    :math:`v \in \{1, 2\}` is

    .. math::
        \mathbf{z}_v = \mathbf{h} + \epsilon \, \|\mathbf{h}\|_2 \,
        \frac{\boldsymbol{\delta}_v}{\|\boldsymbol{\delta}_v\|_2}, \qquad
        \hat{\mathbf{h}}_v = f_{\theta}(\mathbf{z}_v),

    where the noise direction :math:`\boldsymbol{\delta}_v` is the
    informative noise :math:`\mathrm{PSNet}(\boldsymbol{\xi}_v, \mathbf{m})`
    of :class:`PSNetNoise` with :math:`\boldsymbol{\xi}_v \sim
    \mathcal{N}(\mathbf{0}, \mathbf{I})` (:obj:`noise="psnet"`), the Gaussian
    :math:`\boldsymbol{\xi}_v` itself (:obj:`"gaussian"`), or SimGCL's
    :math:`\mathrm{sign}(\mathbf{h}) \odot \mathbf{r}_v`, :math:`\mathbf{r}_v
    \sim U(0, 1)^d` (:obj:`"uniform"`); all three have the same magnitude,
    a fraction :math:`\epsilon` of the embedding's norm (the losses compare
    cosines, so the noise-to-signal ratio is what matters; with SimGCL's
    absolute magnitude it would drift with the propagated norms, which the
    cosine softmax leaves free). :math:`f_{\theta}` is the :math:`\mathbf{x}_0`-predicting
    network of :class:`DiffusionDenoiser` at a single noise level, trained to
    reconstruct :math:`\mathbf{h}` (:obj:`denoise=False` uses
    :math:`\hat{\mathbf{h}}_v = \mathbf{z}_v`). The objective is

    .. math::
        \mathcal{L} = \mathcal{L}_{\mathrm{rec}} + \lambda_c \left(
        \mathcal{L}_{\mathrm{cl}}^{U} + \mathcal{L}_{\mathrm{cl}}^{I}
        \right) + \lambda_d \frac{1}{2} \sum_v
        \mathrm{MSE}(\hat{\mathbf{h}}_v, \mathrm{sg}(\mathbf{h})) +
        \lambda_{reg} \frac{1}{2B} \left(\|\mathbf{P}^{(0)}_{u}\|_F^2 +
        \|\mathbf{Q}^{(0)}_{i^+}\|_F^2 \right),

    where :math:`\mathcal{L}_{\mathrm{cl}}` is the mean InfoNCE with cosine
    similarity and temperature :math:`\tau` between
    :math:`\hat{\mathbf{h}}_1` and :math:`\hat{\mathbf{h}}_2` of the batch's
    unique users (resp. items), the other nodes of the batch being the
    negatives, and :math:`\mathrm{sg}` stops the gradient (the
    reconstruction trains the denoiser, not the embeddings).

    User metadata is the mean of the item metadata over each user's training
    items, :math:`\mathbf{M}_U = \mathbf{D}_U^{-1} \mathbf{R} \mathbf{M}_I`
    (one sparse product when the graph is set), so users get informative
    noise from the same semantic space as items. Each side has its own PSNet
    and denoiser. At inference there is no noise and no denoiser:
    :meth:`embeddings` returns :math:`\mathbf{H}` (row-normalised when
    :obj:`rec_loss="softmax"`, so that the scores are the cosines it was
    trained on).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        dim (int, optional): Embedding size :math:`d`. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers :math:`L`.
            (default: :obj:`3`)
        metadata (Mapping[str, torch.Tensor] or [torch.Tensor], optional):
            Item metadata channels, each :obj:`[num_items, d_k]`, used side
            by side as :math:`\mathbf{m}`. (default: :obj:`None`)
        noise (str, optional): :obj:`"psnet"`, :obj:`"gaussian"` or
            :obj:`"uniform"`. (default: :obj:`"psnet"`)
        eps (float, optional): Noise magnitude :math:`\epsilon`, relative
            to the embedding's norm. (default: :obj:`0.5`)
        denoise (bool, optional): Pass the views through the denoiser.
            (default: :obj:`True`)
        denoiser (str, optional): :obj:`"mlp1"` or :obj:`"mlp2"`.
            (default: :obj:`"mlp1"`)
        rec_loss (str, optional): :obj:`"softmax"` or :obj:`"bpr"`.
            (default: :obj:`"softmax"`)
        rec_tau (float, optional): Softmax temperature :math:`\tau_r`.
            (default: :obj:`0.3`)
        negatives (str or int, optional): Softmax candidates :math:`\mathcal
            C`: :obj:`"full"` (all items), :obj:`"in_batch"` or a number of
            sampled items. (default: :obj:`"full"`)
        cl_weight (float, optional): :math:`\lambda_c`.
            (default: :obj:`0.05`)
        tau (float, optional): InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.5`)
        denoise_weight (float, optional): :math:`\lambda_d`.
            (default: :obj:`1.0`)
        reg_weight (float, optional): :math:`\lambda_{reg}`.
            (default: :obj:`1e-4`)
        skip_ego (bool, optional): Leave layer 0 out of the layer mean, as
            SimGCL does. (default: :obj:`True`)
        psnet_layers (int, optional): Re-encoding layers of each PSNet.
            (default: :obj:`2`)
        num_views (int, optional): :obj:`2` contrasts two noisy views with
            each other (SimGCL); :obj:`1` contrasts one noisy view with the
            clean embedding. (default: :obj:`1`)
        edge_index (torch.Tensor, optional): The (user, item) training
            edges; may instead be given later with :meth:`set_graph`.
            (default: :obj:`None`)
    """
    # The optimiser settings the constructor defaults were explored with.
    training_defaults = {'lr': 1e-3, 'batch_size': 2048}

    def __init__(
        self,
        num_users: int,
        num_items: int,
        dim: int = 64,
        num_layers: int = 3,
        metadata: MetadataArg = None,
        noise: str = 'psnet',
        eps: float = 0.5,
        denoise: bool = True,
        denoiser: str = 'mlp1',
        rec_loss: str = 'softmax',
        rec_tau: float = 0.3,
        negatives: Union[str, int] = 'full',
        cl_weight: float = 0.05,
        tau: float = 0.5,
        denoise_weight: float = 1.0,
        reg_weight: float = 1e-4,
        skip_ego: bool = True,
        psnet_layers: int = 2,
        num_views: int = 1,
        edge_index: Optional[Tensor] = None,
    ):
        super().__init__()
        self.num_users = check_int(num_users, 'num_users')
        self.num_items = check_int(num_items, 'num_items')
        self.dim = check_int(dim, 'dim', 2)
        self.num_layers = check_int(num_layers, 'num_layers', 0)
        if skip_ego and num_layers == 0:
            raise ValueError("'skip_ego=True' needs num_layers >= 1")
        if noise not in NOISE_KINDS:
            raise ValueError(f"Unknown noise '{noise}' (valid: "
                             f"{', '.join(NOISE_KINDS)})")
        if rec_loss not in REC_LOSSES:
            raise ValueError(f"Unknown rec_loss '{rec_loss}' (valid: "
                             f"{', '.join(REC_LOSSES)})")
        if denoiser not in DENOISERS:
            raise ValueError(f"Unknown denoiser '{denoiser}' (valid: "
                             f"{', '.join(DENOISERS)})")
        self.noise = noise
        self.eps = check_float(eps, 'eps')
        self.denoise = bool(denoise)
        self.rec_loss = rec_loss
        self.rec_tau = check_float(rec_tau, 'rec_tau', positive=True)
        self.negatives = negatives
        self.cl_weight = check_float(cl_weight, 'cl_weight')
        self.tau = check_float(tau, 'tau', positive=True)
        self.denoise_weight = check_float(denoise_weight, 'denoise_weight')
        self.reg_weight = check_float(reg_weight, 'reg_weight')
        self.skip_ego = bool(skip_ego)
        if num_views not in (1, 2):
            raise ValueError(f"'num_views' must be 1 or 2 (got {num_views!r})")
        self.num_views = num_views

        self.user_emb = Embedding(num_users, dim)
        self.item_emb = Embedding(num_items, dim)
        # Initialised before the noise modules draw from the RNG: ablations
        # run with the same seed start from the same tables.
        self._reset_tables()
        alpha = None
        if skip_ego:
            alpha = torch.full((num_layers + 1, ), 1.0 / num_layers)
            alpha[0] = 0.0
        self.propagation = LightGCNInference(num_layers, alpha=alpha)

        item_meta = _concat_metadata(metadata, num_items)
        self.metadata_dim = None if item_meta is None else item_meta.size(1)
        self.register_buffer('item_metadata', item_meta)
        # Derived from the graph in set_graph(); not part of the state.
        self.register_buffer('user_metadata', None, persistent=False)
        self.register_buffer('edge_index', None, persistent=False)

        self.psnets = ModuleDict()
        if noise == 'psnet':
            check_int(psnet_layers, 'psnet_layers')
            for side in SIDES:
                self.psnets[side] = PSNetNoise(
                    dim, metadata_dim=self.metadata_dim,
                    num_reencode_layers=psnet_layers)
        self.denoisers = ModuleDict()
        if self.denoise:
            for side in SIDES:
                self.denoisers[side] = DiffusionDenoiser(
                    dim, num_steps=1, denoiser=denoiser)

        if edge_index is not None:
            self.set_graph(edge_index)

    def _reset_tables(self):
        # Xavier-uniform tables, as PyG's LightGCN and SimGCL initialise them.
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)

    def reset_parameters(self):
        r"""Resets all learnable parameters of the module."""
        self._reset_tables()
        for module in list(self.psnets.values()) + list(
                self.denoisers.values()):
            module.reset_parameters()
        self.propagation.reset_parameters()

    def set_graph(self, edge_index: Tensor) -> None:
        r"""Sets the (user, item) training edges :obj:`[2, E]` that training
        propagates over, and derives the user metadata from them."""
        check_edge_index(edge_index, self.num_users, self.num_items)
        self.edge_index = edge_index.long().to(self.user_emb.weight.device)
        self.propagation.reset_cache()
        if self.item_metadata is not None:
            self.user_metadata = self._mean_item_metadata(self.edge_index)

    def _mean_item_metadata(self, edge_index: Tensor) -> Tensor:
        # D_U^{-1} R M_I as one sparse product; users without training items
        # get zero metadata.
        user, item = edge_index
        degree = torch.bincount(user, minlength=self.num_users)
        value = 1.0 / degree[user].to(self.item_metadata.dtype)
        mean = torch.sparse_coo_tensor(edge_index, value,
                                       (self.num_users, self.num_items),
                                       check_invariants=False)
        return torch.sparse.mm(mean, self.item_metadata)

    def _training_graph(self) -> Tensor:
        if self.edge_index is None:
            raise ValueError(
                "GraphInfoDCL has no training graph: pass 'edge_index' to the "
                "constructor or call set_graph(edge_index) before training")
        return self.edge_index

    def propagate(self) -> Tuple[Tensor, Tensor]:
        r"""The propagated user and item tables :math:`\mathbf{H}` over the
        training graph (with gradients)."""
        return self.propagation((self.user_emb.weight, self.item_emb.weight),
                                self._training_graph())

    def draw_noise(self, num_users: int, num_items: int,
                   like: Tensor) -> NoiseDraws:
        r"""Draws the raw noise of both views: :math:`U(0, 1)` for
        :obj:`"uniform"`, else :math:`\mathcal{N}(\mathbf{0}, \mathbf{I})`."""
        draw = torch.rand if self.noise == 'uniform' else torch.randn
        return {
            side: draw(self.num_views, n, self.dim, device=like.device,
                       dtype=like.dtype)
            for side, n in zip(SIDES, (num_users, num_items))
        }

    def perturb(self, h: Tensor, side: str, ids: Tensor,
                raw: Tensor) -> Tensor:
        r"""Returns the two noisy views :math:`\mathbf{z}_1, \mathbf{z}_2`
        (shape :obj:`[2, n, d]`) of the rows :obj:`h` (:obj:`[n, d]`) of
        nodes :obj:`ids` on :obj:`side`, from the raw draws :obj:`raw`
        (:obj:`[2, n, d]`)."""
        if self.noise == 'uniform':
            direction = torch.sign(h) * F.normalize(raw, dim=-1)
        elif self.noise == 'gaussian':
            direction = F.normalize(raw, dim=-1)
        else:
            meta = self._side_metadata(side)
            views, n = raw.size(0), h.size(0)
            rows = None if meta is None else meta[ids].repeat(views, 1)
            informative = self.psnets[side](raw.reshape(views * n, self.dim),
                                            rows)
            direction = F.normalize(informative, dim=-1,
                                    eps=COSINE_EPS).view(views, n, self.dim)
        # Relative magnitude: the losses compare cosines, so what matters is
        # the noise-to-signal ratio, and the propagated norms drift in
        # training. The norm is a constant scale for the gradient.
        scale = self.eps * h.detach().norm(dim=-1, keepdim=True)
        return h + scale * direction

    def _side_metadata(self, side: str) -> Optional[Tensor]:
        if side == 'item':
            return self.item_metadata
        if self.item_metadata is not None and self.user_metadata is None:
            self._training_graph()  # Raises: the graph was never set.
        return self.user_metadata

    def views(self, h: Tensor, side: str, ids: Tensor,
              raw: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns the two contrastive views :math:`\hat{\mathbf{h}}_1,
        \hat{\mathbf{h}}_2` (:obj:`[2, n, d]`) of the rows :obj:`h` and the
        denoiser's reconstruction loss (zero without denoiser)."""
        z = self.perturb(h, side, ids, raw)
        if not self.denoise:
            return z, h.new_zeros(())
        views, n = z.size(0), z.size(1)
        flat = z.reshape(views * n, self.dim)
        step = torch.zeros(views * n, dtype=torch.long, device=h.device)
        out = self.denoisers[side](flat, step)
        target = h.detach().repeat(views, 1)
        return out.view(views, n, self.dim), reconstruction_loss(out, target)

    def contrastive_loss(
        self,
        user_table: Tensor,
        item_table: Tensor,
        users: Tensor,
        items: Tensor,
        noise: Optional[NoiseDraws] = None,
    ) -> Tuple[Tensor, Tensor]:
        r"""The InfoNCE terms :math:`\mathcal{L}_{\mathrm{cl}}^{U} +
        \mathcal{L}_{\mathrm{cl}}^{I}` of the unique :obj:`users` and
        :obj:`items` and the denoiser's reconstruction loss (mean of the two
        sides). :obj:`noise` holds the raw draws (from :meth:`draw_noise` if
        :obj:`None`)."""
        if noise is None:
            noise = self.draw_noise(users.numel(), items.numel(), user_table)
        cl, rec = user_table.new_zeros(()), user_table.new_zeros(())
        for side, table, ids in (('user', user_table, users),
                                 ('item', item_table, items)):
            h = table[ids]
            views, rec_side = self.views(h, side, ids, noise[side])
            # One view is contrasted with the clean embedding itself.
            other = views[1] if self.num_views == 2 else h
            target = torch.arange(ids.numel(), device=ids.device)
            cl = cl + info_nce_loss(views[0], other, target, tau=self.tau,
                                    reduction='mean')
            rec = rec + rec_side / 2
        return cl, rec

    def recommendation_loss(self, user_table: Tensor, item_table: Tensor,
                            batch: TrainBatch) -> Tensor:
        r"""The softmax (or BPR) loss of the batch on the propagated
        tables."""
        user = user_table[batch.user]
        if self.rec_loss == 'bpr':
            return bpr_loss((user * item_table[batch.pos_item]).sum(-1),
                            (user * item_table[batch.neg_item]).sum(-1))
        return info_nce_loss(user, item_table, batch.pos_item,
                             tau=self.rec_tau, negatives=self.negatives,
                             reduction='mean')

    def loss(self, batch: TrainBatch, noise: Optional[NoiseDraws] = None,
             ) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""Computes the training objective on a batch of triples.

        Args:
            batch (TrainBatch): The batch.
            noise (Dict[str, torch.Tensor], optional): Raw noise draws of the
                views, :obj:`{'user': [2, n_u, d], 'item': [2, n_i, d]}` for
                the batch's :obj:`n_u` unique users and :obj:`n_i` unique
                positive items (sorted ids); drawn by :meth:`draw_noise` if
                :obj:`None`. (default: :obj:`None`)

        Returns:
            The weighted total and the unweighted terms :obj:`rec`,
            :obj:`cl`, :obj:`denoise` and :obj:`reg`.
        """
        check_batch(batch, self.num_users, self.num_items)
        user_table, item_table = self.propagate()
        rec = self.recommendation_loss(user_table, item_table, batch)
        cl = denoise = rec.new_zeros(())
        if self.cl_weight > 0:
            cl, denoise = self.contrastive_loss(user_table, item_table,
                                                batch.user.unique(),
                                                batch.pos_item.unique(),
                                                noise)
        reg = l2_reg_loss(self.user_emb(batch.user),
                          self.item_emb(batch.pos_item),
                          batch_size=batch.user.numel())
        total = (rec + self.cl_weight * cl +
                 self.denoise_weight * denoise + self.reg_weight * reg)
        return total, dict(rec=rec, cl=cl, denoise=denoise, reg=reg)

    def embeddings(self, edge_index: Optional[Tensor] = None,
                   ) -> Tuple[Tensor, Tensor]:
        r"""Returns the user and item embeddings used for scoring: the clean
        propagation over :obj:`edge_index` (the training graph if
        :obj:`None`), without noise or denoiser, row-normalised when the
        model is trained with the cosine softmax."""
        graph = self._training_graph() if edge_index is None else edge_index
        user, item = self.propagation(
            (self.user_emb.weight, self.item_emb.weight), graph)
        if self.rec_loss == 'softmax':
            user = F.normalize(user, dim=-1, eps=COSINE_EPS)
            item = F.normalize(item, dim=-1, eps=COSINE_EPS)
        return user, item

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, dim={self.dim}, '
                f'num_layers={self.num_layers}, noise={self.noise}, '
                f'denoise={self.denoise}, rec_loss={self.rec_loss})')
