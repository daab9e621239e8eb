from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding

from torch_geometric_infodcl.data.sampling import TrainBatch, check_batch
from torch_geometric_infodcl.models.infodcl import check_item_metadata
from torch_geometric_infodcl.models.protocol import require_graph
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
MetadataArg = Optional[Union[Mapping[str, Tensor], Sequence[Tensor], Tensor]]


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
    r"""InfoDCL trained with the graph: a LightGCN encoder trained with a
    cosine softmax on its *propagated* embeddings, with InfoDCL's
    informative-noise contrastive views of those embeddings as an optional
    regulariser. An extension of `"InfoDCL: Informative Noise Enhanced
    Diffusion Based Contrastive Learning" <https://arxiv.org/abs/2512.16576>`_
    in the style of `"Are Graph Augmentations Necessary? Simple Graph
    Contrastive Learning for Recommendation"
    <https://arxiv.org/abs/2112.08679>`_ (SimGCL), with the softmax loss of
    `"BSL: Understanding and Improving Softmax Loss for Recommendation"
    <https://arxiv.org/abs/2312.12882>`_.

    Every training step propagates the layer-0 tables :math:`\mathbf{E}^{(0)}
    = [\mathbf{P}; \mathbf{Q}]` once over the normalised training graph
    :math:`\hat{\mathbf{A}}` (:class:`LightGCNInference`, cached CSR,
    sparse backward),

    .. math::
        \mathbf{H} = \sum_{l=0}^{L} \alpha_l \hat{\mathbf{A}}^l
        \mathbf{E}^{(0)},

    with :math:`\alpha_0 = 0`, :math:`\alpha_{l \geq 1} = 1/L` (SimGCL's mean
    of layers :math:`1..L`; :math:`\alpha_l = 1/(L+1)` with
    :obj:`skip_ego=False`). The recommendation loss is a softmax over
    candidate items :math:`\mathcal{C}` (sampled per batch) on cosine
    similarities,

    .. math::
        \mathcal{L}_{\mathrm{rec}} = -\frac{1}{B} \sum_{(u, i)} \log
        \frac{\exp(\cos(\mathbf{h}_u, \mathbf{h}_i) / \tau_r)}
        {\sum_{j \in \{i\} \cup \mathcal{C}}
        \exp(\cos(\mathbf{h}_u, \mathbf{h}_j) / \tau_r)},

    or BPR on inner products (:obj:`rec_loss="bpr"`). With
    :math:`\lambda_c > 0`, the same :math:`\mathbf{H}` (no second
    propagation) gives contrastive views of the batch's unique users and
    unique positive items. For a node with propagated embedding
    :math:`\mathbf{h}` and auxiliary metadata :math:`\mathbf{m}`, view
    :math:`v` is

    .. math::
        \mathbf{z}_v = \mathbf{h} + \epsilon \, \|\mathbf{h}\|_2 \,
        \frac{\boldsymbol{\delta}_v}{\|\boldsymbol{\delta}_v\|_2}, \qquad
        \hat{\mathbf{h}}_v = f_{\theta}(\mathbf{z}_v),

    where the noise direction :math:`\boldsymbol{\delta}_v` is InfoDCL's
    informative noise :math:`\mathrm{PSNet}(\boldsymbol{\xi}_v, \mathbf{m})`
    (:class:`PSNetNoise`, :math:`\boldsymbol{\xi}_v \sim
    \mathcal{N}(\mathbf{0}, \mathbf{I})`, :obj:`noise="psnet"`), the Gaussian
    :math:`\boldsymbol{\xi}_v` itself (:obj:`"gaussian"`), or SimGCL's
    :math:`\mathrm{sign}(\mathbf{h}) \odot \mathbf{r}_v` with
    :math:`\mathbf{r}_v \sim U(0, 1)^d` (:obj:`"uniform"`). All three have
    the same magnitude, a fraction :math:`\epsilon` of the embedding's norm:
    the losses compare cosines, so the noise-to-signal ratio is what matters
    (an absolute magnitude, as in SimGCL, would drift with the propagated
    norms, which the cosine softmax leaves free). :math:`f_{\theta}` is the
    :math:`\mathbf{x}_0`-predicting network of :class:`DiffusionDenoiser` at
    a single noise level, trained to reconstruct :math:`\mathbf{h}`
    (:obj:`denoise=False`: :math:`\hat{\mathbf{h}}_v = \mathbf{z}_v`). The
    objective is

    .. math::
        \mathcal{L} = \mathcal{L}_{\mathrm{rec}} + \lambda_c \left(
        \mathcal{L}_{\mathrm{cl}}^{U} + \mathcal{L}_{\mathrm{cl}}^{I}
        \right) + \lambda_d \, \mathrm{MSE}(\hat{\mathbf{h}}_v,
        \mathrm{sg}(\mathbf{h})) + \lambda_{reg} \frac{1}{2B} \left(
        \|\mathbf{P}^{(0)}_{u}\|_F^2 + \|\mathbf{Q}^{(0)}_{i^+}\|_F^2 \right),

    where :math:`\mathcal{L}_{\mathrm{cl}}^{U}` is the mean InfoNCE with
    cosine similarity and temperature :math:`\tau` between the view
    :math:`\hat{\mathbf{h}}_1` of each unique user of the batch and its clean
    :math:`\mathbf{h}` (InfoDCL's view-vs-embedding form; its second view
    :math:`\hat{\mathbf{h}}_2` with :obj:`num_views=2`, SimGCL's form), the
    batch's other users being the negatives; likewise
    :math:`\mathcal{L}_{\mathrm{cl}}^{I}` for items. :math:`\mathrm{sg}` stops
    the gradient: the reconstruction trains the denoiser, not the
    embeddings.

    User metadata is the mean of the item metadata over each user's training
    items, :math:`\mathbf{M}_U = \mathbf{D}_U^{-1} \mathbf{R} \mathbf{M}_I`
    (one sparse product when the graph is set), so that users get
    informative noise from the same semantic space as items, and one PSNet
    call (and one denoiser) serves the users' and the items' rows of a step.
    At inference there is no noise and no denoiser: :meth:`embeddings`
    returns :math:`\mathbf{H}`, row-normalised under the softmax loss so that
    the scores are the cosines it was trained on.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        dim (int, optional): Embedding size :math:`d`. (default: :obj:`64`)
        num_layers (int, optional): Propagation layers :math:`L`.
            (default: :obj:`3`)
        metadata (Mapping[str, torch.Tensor] or [torch.Tensor], optional):
            Item metadata channels, each :obj:`[num_items, d_k]`, used side
            by side as :math:`\mathbf{m}` by PSNet. (default: :obj:`None`)
        noise (str, optional): Noise of the views: :obj:`"psnet"`,
            :obj:`"gaussian"` or :obj:`"uniform"`. (default: :obj:`"psnet"`)
        eps (float, optional): Noise magnitude :math:`\epsilon`, relative
            to the embedding's norm. (default: :obj:`0.5`)
        denoise (bool, optional): Pass the views through the denoiser.
            (default: :obj:`False`)
        denoiser (str, optional): :obj:`"mlp1"` or :obj:`"mlp2"`.
            (default: :obj:`"mlp1"`)
        rec_loss (str, optional): :obj:`"softmax"` or :obj:`"bpr"`.
            (default: :obj:`"softmax"`)
        rec_tau (float, optional): Softmax temperature :math:`\tau_r`.
            (default: :obj:`0.3`)
        negatives (str or int, optional): Softmax candidates
            :math:`\mathcal{C}`: :obj:`"full"` (all items), :obj:`"in_batch"`
            (the batch's positive items) or a number :math:`k` of items
            sampled uniformly per batch (the whole catalogue when :math:`k
            \geq` :obj:`num_items`). (default: :obj:`1024`)
        cl_weight (float, optional): Contrastive weight :math:`\lambda_c`;
            :obj:`0` trains without views (no noise modules are built).
            (default: :obj:`0.0`)
        tau (float, optional): InfoNCE temperature :math:`\tau`.
            (default: :obj:`0.5`)
        denoise_weight (float, optional): Reconstruction weight
            :math:`\lambda_d`. (default: :obj:`1.0`)
        reg_weight (float, optional): L2 weight :math:`\lambda_{reg}` on the
            batch's layer-0 rows. (default: :obj:`1e-4`)
        skip_ego (bool, optional): Leave layer 0 out of the layer mean.
            (default: :obj:`True`)
        psnet_layers (int, optional): Re-encoding layers of PSNet.
            (default: :obj:`2`)
        num_views (int, optional): :obj:`1` contrasts one view with the clean
            embedding, :obj:`2` two views with each other.
            (default: :obj:`1`)
        cl_nodes (int, optional): Contrast at most this many of the batch's
            unique users (and as many items), sampled uniformly, to bound the
            cost; all of them if :obj:`None`. (default: :obj:`None`)
        edge_index (torch.Tensor, optional): The (user, item) training
            edges; may instead be given later with :meth:`set_graph`.
            (default: :obj:`None`)

    Shapes:
        - **input of** :meth:`loss`: a :class:`TrainBatch` of :math:`B`
          triples
        - **output of** :meth:`embeddings`: :math:`(|\mathcal{U}|, d)`,
          :math:`(|\mathcal{I}|, d)`
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
        denoise: bool = False,
        denoiser: str = 'mlp1',
        rec_loss: str = 'softmax',
        rec_tau: float = 0.3,
        negatives: Union[str, int] = 1024,
        cl_weight: float = 0.0,
        tau: float = 0.5,
        denoise_weight: float = 1.0,
        reg_weight: float = 1e-4,
        skip_ego: bool = True,
        psnet_layers: int = 2,
        num_views: int = 1,
        cl_nodes: Optional[int] = None,
        edge_index: Optional[Tensor] = None,
    ):
        super().__init__()
        self.num_users = check_int(num_users, 'num_users')
        self.num_items = check_int(num_items, 'num_items')
        self.dim = check_int(dim, 'dim', 2)
        self.num_layers = check_int(num_layers, 'num_layers', 0)
        if skip_ego and num_layers == 0:
            raise ValueError("'skip_ego=True' (the default) needs "
                             "num_layers >= 1; pass skip_ego=False to train "
                             "without propagation")
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
        self.negatives = self._check_negatives(negatives, num_items)
        self.cl_weight = check_float(cl_weight, 'cl_weight')
        self.tau = check_float(tau, 'tau', positive=True)
        self.denoise_weight = check_float(denoise_weight, 'denoise_weight')
        self.reg_weight = check_float(reg_weight, 'reg_weight')
        self.skip_ego = bool(skip_ego)
        if num_views not in (1, 2):
            raise ValueError(f"'num_views' must be 1 or 2 (got {num_views!r})")
        self.num_views = num_views
        self.cl_nodes = (None if cl_nodes is None else
                         check_int(cl_nodes, 'cl_nodes'))

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

        # One PSNet and one denoiser serve users and items: user metadata
        # lives in the item metadata space, and one call costs less. Without
        # the contrast (cl_weight=0) neither is built.
        contrast = self.cl_weight > 0
        check_int(psnet_layers, 'psnet_layers')
        self.psnet = (PSNetNoise(dim, metadata_dim=self.metadata_dim,
                                 num_reencode_layers=psnet_layers)
                      if contrast and noise == 'psnet' else None)
        self.denoiser = (DiffusionDenoiser(dim, num_steps=1,
                                           denoiser=denoiser)
                         if contrast and self.denoise else None)

        if edge_index is not None:
            self.set_graph(edge_index)

    @staticmethod
    def _check_negatives(negatives, num_items: int) -> Union[str, int]:
        if negatives in ('full', 'in_batch'):
            return negatives
        if isinstance(negatives, bool) or not isinstance(negatives, int) \
                or negatives < 1:
            raise ValueError(f"'negatives' must be 'full', 'in_batch' or a "
                             f"positive number of sampled items (got "
                             f"{negatives!r})")
        # Sampling the whole catalogue (or more) is the full softmax.
        return 'full' if negatives >= num_items else negatives

    def _reset_tables(self):
        # Xavier-uniform tables, as PyG's LightGCN and SimGCL initialise them.
        torch.nn.init.xavier_uniform_(self.user_emb.weight)
        torch.nn.init.xavier_uniform_(self.item_emb.weight)

    def reset_parameters(self):
        r"""Resets all learnable parameters of the module."""
        self._reset_tables()
        for module in (self.psnet, self.denoiser):
            if module is not None:
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
        return require_graph(self, self.edge_index)

    def propagate(self) -> Tuple[Tensor, Tensor]:
        r"""The propagated user and item tables :math:`\mathbf{H}` over the
        training graph (with gradients)."""
        return self.propagation((self.user_emb.weight, self.item_emb.weight),
                                self._training_graph())

    def draw_noise(self, num_rows: int, like: Tensor) -> Tensor:
        r"""Draws the raw noise of the views, :obj:`[num_views, num_rows,
        dim]`: :math:`U(0, 1)` for :obj:`"uniform"`, else
        :math:`\mathcal{N}(\mathbf{0}, \mathbf{I})`."""
        draw = torch.rand if self.noise == 'uniform' else torch.randn
        return draw(self.num_views, num_rows, self.dim, device=like.device,
                    dtype=like.dtype)

    def node_metadata(self, users: Tensor, items: Tensor) -> Optional[Tensor]:
        r"""The metadata rows of :obj:`users` followed by those of
        :obj:`items` (:obj:`None` without metadata)."""
        if self.item_metadata is None:
            return None
        if self.user_metadata is None:
            self._training_graph()  # Raises: the graph was never set.
        return torch.cat([self.user_metadata[users],
                          self.item_metadata[items]])

    def perturb(self, h: Tensor, metadata: Optional[Tensor],
                raw: Tensor) -> Tensor:
        r"""Returns the noisy views :math:`\mathbf{z}_v` (:obj:`[num_views,
        n, d]`) of the rows :obj:`h` (:obj:`[n, d]`) with metadata rows
        :obj:`metadata` (:obj:`[n, d_m]` or :obj:`None`), from the raw draws
        :obj:`raw` (:obj:`[num_views, n, d]`)."""
        if self.noise == 'uniform':
            direction = torch.sign(h) * F.normalize(raw, dim=-1)
        elif self.noise == 'gaussian':
            direction = F.normalize(raw, dim=-1)
        else:
            views, n = raw.size(0), h.size(0)
            rows = None if metadata is None else metadata.repeat(views, 1)
            # One PSNet call for every row of every view: its spectral
            # statistics span the whole contrast batch.
            informative = self.psnet(raw.reshape(views * n, self.dim), rows)
            direction = F.normalize(informative, dim=-1,
                                    eps=COSINE_EPS).view(views, n, self.dim)
        # Relative magnitude: the losses compare cosines, so what matters is
        # the noise-to-signal ratio, and the propagated norms drift in
        # training. The norm is a constant scale for the gradient.
        scale = self.eps * h.detach().norm(dim=-1, keepdim=True)
        return h + scale * direction

    def views(self, h: Tensor, metadata: Optional[Tensor],
              raw: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Returns the contrastive views :math:`\hat{\mathbf{h}}_v`
        (:obj:`[num_views, n, d]`) of the rows :obj:`h` and the denoiser's
        reconstruction loss (zero without denoiser)."""
        z = self.perturb(h, metadata, raw)
        if not self.denoise:
            return z, h.new_zeros(())
        views, n = z.size(0), z.size(1)
        flat = z.reshape(views * n, self.dim)
        step = torch.zeros(views * n, dtype=torch.long, device=h.device)
        out = self.denoiser(flat, step)
        target = h.detach().repeat(views, 1)
        return out.view(views, n, self.dim), reconstruction_loss(out, target)

    def contrastive_loss(
        self,
        user_table: Tensor,
        item_table: Tensor,
        users: Tensor,
        items: Tensor,
        noise: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor]:
        r"""The InfoNCE terms :math:`\mathcal{L}_{\mathrm{cl}}^{U} +
        \mathcal{L}_{\mathrm{cl}}^{I}` of the unique :obj:`users` and
        :obj:`items` and the denoiser's reconstruction loss. :obj:`noise`
        holds the raw draws of the users' rows followed by the items' rows,
        :obj:`[num_views, len(users) + len(items), dim]` (from
        :meth:`draw_noise` if :obj:`None`)."""
        h = torch.cat([user_table[users], item_table[items]])
        if noise is None:
            noise = self.draw_noise(h.size(0), h)
        elif tuple(noise.shape) != (self.num_views, h.size(0), self.dim):
            raise ValueError(f"'noise' must have shape [num_views, "
                             f"n_users + n_items, dim] = "
                             f"{[self.num_views, h.size(0), self.dim]} (got "
                             f"{list(noise.shape)})")
        views, rec = self.views(h, self.node_metadata(users, items), noise)
        # With one view, the view is contrasted with the clean embedding.
        other = views[1] if self.num_views == 2 else h
        cl = h.new_zeros(())
        # Users are contrasted with users, items with items.
        sizes = [users.numel(), items.numel()]
        for view, clean in zip(views[0].split(sizes), other.split(sizes)):
            target = torch.arange(view.size(0), device=h.device)
            cl = cl + info_nce_loss(view, clean, target, tau=self.tau,
                                    reduction='mean')
        return cl, rec

    def contrast_ids(self, ids: Tensor) -> Tensor:
        r"""The sorted unique :obj:`ids`, subsampled uniformly to at most
        :obj:`cl_nodes`."""
        ids = ids.unique()
        if self.cl_nodes is None or ids.numel() <= self.cl_nodes:
            return ids
        keep = torch.randperm(ids.numel(), device=ids.device)[:self.cl_nodes]
        return ids[keep.sort().values]

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

    def loss(self, batch: TrainBatch, noise: Optional[Tensor] = None,
             ) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""Computes the training objective on a batch of triples.

        Args:
            batch (TrainBatch): The batch.
            noise (torch.Tensor, optional): Raw noise draws of the views,
                :obj:`[num_views, n_u + n_i, dim]`, for the :obj:`n_u` users
                and then the :obj:`n_i` positive items of
                :meth:`contrast_ids` (sorted ids); drawn by :meth:`draw_noise`
                if :obj:`None`. (default: :obj:`None`)

        Returns:
            The weighted total and the unweighted terms :obj:`rec`,
            :obj:`cl`, :obj:`denoise` and :obj:`reg`.
        """
        check_batch(batch, self.num_users, self.num_items)
        user_table, item_table = self.propagate()
        rec = self.recommendation_loss(user_table, item_table, batch)
        cl = denoise = rec.new_zeros(())
        if self.cl_weight > 0:
            cl, denoise = self.contrastive_loss(
                user_table, item_table, self.contrast_ids(batch.user),
                self.contrast_ids(batch.pos_item), noise)
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
                f'num_layers={self.num_layers}, rec_loss={self.rec_loss}, '
                f'cl_weight={self.cl_weight}, noise={self.noise}, '
                f'denoise={self.denoise})')
