from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from torch_geometric_infodcl.data.sampling import TrainBatch, check_batch
from torch_geometric_infodcl.nn.channel_batch import (
    denoise_channels,
    psnet_channels,
)
from torch_geometric_infodcl.nn.diffusion import DiffusionDenoiser
from torch_geometric_infodcl.nn.lightgcn_inference import LightGCNInference
from torch_geometric_infodcl.nn.losses import (
    balance_loss_norm,
    balance_loss_ratio,
    bpr_loss,
    info_nce_loss,
    l2_reg_loss,
)
from torch_geometric_infodcl.nn.psnet import PSNetNoise
from torch_geometric_infodcl.utils.checks import (
    check_finite,
    check_float,
    check_ids,
    check_int,
    check_tensor,
)

MetadataArg = Optional[Union[Mapping[str, Tensor], Sequence[Tensor]]]

NOISE_KINDS = ('psnet', 'gaussian')
BALANCE_FORMS = ('norm', 'ratio', 'none')


def _as_channel_dict(metadata: MetadataArg) -> Dict[str, Optional[Tensor]]:
    if metadata is None:
        # One channel whose PSNet sees no metadata.
        return {'plain': None}
    if isinstance(metadata, Tensor):
        raise TypeError("'metadata' must be a mapping name -> tensor or a "
                        "sequence of tensors, not a single tensor (wrap it "
                        "in a list for one channel)")
    if isinstance(metadata, Mapping):
        channels = dict(metadata)
    else:
        channels = {f'channel{k}': m for k, m in enumerate(metadata)}
    if len(channels) == 0:
        raise ValueError("'metadata' holds no channel; pass None for one "
                         "channel without metadata")
    return channels


def check_item_metadata(meta: Tensor, name: str, num_items: int) -> int:
    r"""Checks that the metadata channel :obj:`name` is a finite
    :obj:`[num_items, d]` tensor and returns :obj:`d`."""
    label = f'metadata[{name}]'
    check_tensor(meta, label, ndim=2)
    if meta.size(0) != num_items:
        raise ValueError(f"Metadata of channel '{name}' has {meta.size(0)} "
                         f"rows but there are {num_items} items")
    check_finite(meta, label)
    return meta.size(1)


class InfoDCL(torch.nn.Module):
    r"""The InfoDCL recommender from the `"InfoDCL: Informative Noise Enhanced
    Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ paper.

    User and item embedding tables :math:`\mathbf{P}, \mathbf{E}` are trained
    without the graph. For every metadata source :math:`m^{(k)}` one channel
    turns Gaussian noise into informative noise with
    :class:`~torch_geometric_infodcl.nn.PSNetNoise`, diffuses the positive
    item's embedding with it and denoises it in one step into a preference
    view :math:`\hat{\mathbf{e}}^{(k)}_i` with its own
    :class:`~torch_geometric_infodcl.nn.DiffusionDenoiser`:

    .. math::
        \mathbf{z}^{(k)}_t = \sqrt{\bar{\alpha}_t}\,\mathbf{e}_i +
        \sqrt{1 - \bar{\alpha}_t}\,\mathrm{PSNet}_k(\boldsymbol{\epsilon},
        m^{(k)}_i), \qquad
        \hat{\mathbf{e}}^{(k)}_i = f_{\theta_k}(\mathbf{z}^{(k)}_t, \emptyset,
        t).

    The training objective is

    .. math::
        \mathcal{L} = \lambda_r \sum_k \mathcal{L}_{\mathrm{rec}}^{(k)} +
        \lambda_c \sum_k \mathcal{L}_{\mathrm{cl}}^{(k)} +
        \lambda_b \mathcal{L}_{\mathrm{BPR}} +
        \lambda_{reg} \mathcal{L}_{\mathrm{reg}} +
        \lambda_p \mathcal{L}_{\mathrm{bal}},

    with the reconstruction MSE, the InfoNCE between each view and the item
    table, BPR on the raw tables, L2 on the batch rows and the collaboration
    balance loss. At inference the tables are propagated by
    :class:`~torch_geometric_infodcl.nn.LightGCNInference` over the training
    graph and scored by inner product.

    Unlike the authors' code, every channel uses its own metadata, and channel
    1's contrastive term is counted once (set
    :obj:`duplicate_first_contrastive=True` to reproduce their objective).

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        dim (int, optional): Embedding size. (default: :obj:`64`)
        metadata (Mapping[str, torch.Tensor] or [torch.Tensor], optional):
            One :obj:`[num_items, d_k]` tensor per channel (e.g.
            :obj:`data['item'].social_metadata` and
            :obj:`data['item'].knowledge_metadata`). :obj:`None` builds one
            channel without metadata. (default: :obj:`None`)
        num_steps (int, optional): Diffusion steps :math:`T`.
            (default: :obj:`200`)
        schedule (str, optional): Beta schedule. (default: :obj:`"exp"`)
        denoiser (str, optional): :obj:`"mlp1"` or :obj:`"mlp2"`.
            (default: :obj:`"mlp1"`)
        num_layers (int, optional): Propagation layers at inference.
            (default: :obj:`2`)
        rec_weight (float, optional): :math:`\lambda_r`. (default: :obj:`0.4`)
        bpr_weight (float, optional): :math:`\lambda_b`. (default: :obj:`0.6`)
        reg_weight (float, optional): :math:`\lambda_{reg}`.
            (default: :obj:`0.003`)
        balance_weight (float, optional): :math:`\lambda_p`.
            (default: :obj:`5e-5`)
        cl_weight (float, optional): :math:`\lambda_c`. (default: :obj:`5e-6`)
        tau (float, optional): InfoNCE temperature. (default: :obj:`0.5`)
        negatives (str or int, optional): InfoNCE candidates: :obj:`"full"`
            (whole catalogue, the authors' form), :obj:`"in_batch"`, or a number
            of sampled items. (default: :obj:`"full"`)
        balance (str, optional): :obj:`"norm"` (authors' code: squared norm
            of the views), :obj:`"ratio"` (the paper's description: keep the
            reconstruction loss from falling much faster than BPR) or
            :obj:`"none"` (ablation "w/o balance loss").
            (default: :obj:`"norm"`)
        noise (str, optional): :obj:`"psnet"` or :obj:`"gaussian"` (ablation
            "w/o PSNet"). (default: :obj:`"psnet"`)
        contrastive (bool, optional): Ablation switch for the InfoNCE terms.
            (default: :obj:`True`)
        propagate (bool, optional): Ablation switch for the inference-time
            propagation. (default: :obj:`True`)
        psnet_rank (int, optional): Truncated SVD rank in PSNet.
            (default: :obj:`None`)
        duplicate_first_contrastive (bool, optional): Count channel 1's InfoNCE
            twice as the authors' code does. (default: :obj:`False`)
        train_layers (int, optional): An extension beyond the paper: if
            positive, the training losses see the tables propagated over
            :obj:`edge_index` by this many LightGCN layers (the paper and the
            authors' code train without the graph, :obj:`0`).
            (default: :obj:`0`)
        edge_index (torch.Tensor, optional): The (user, item) training
            interactions, needed when :obj:`train_layers > 0`.
            (default: :obj:`None`)
        init_std (float, optional): Standard deviation of the table
            initialisation. (default: :obj:`0.1`)
    """
    def __init__(
        self,
        num_users: int,
        num_items: int,
        dim: int = 64,
        metadata: MetadataArg = None,
        num_steps: int = 200,
        schedule: str = 'exp',
        denoiser: str = 'mlp1',
        num_layers: int = 2,
        rec_weight: float = 0.4,
        bpr_weight: float = 0.6,
        reg_weight: float = 0.003,
        balance_weight: float = 5e-5,
        cl_weight: float = 5e-6,
        tau: float = 0.5,
        negatives: Union[str, int] = 'full',
        balance: str = 'norm',
        noise: str = 'psnet',
        contrastive: bool = True,
        propagate: bool = True,
        psnet_rank: Optional[int] = None,
        duplicate_first_contrastive: bool = False,
        init_std: float = 0.1,
        train_layers: int = 0,
        edge_index: Optional[Tensor] = None,
    ):
        super().__init__()
        check_int(num_users, 'num_users')
        check_int(num_items, 'num_items')
        if noise not in NOISE_KINDS:
            raise ValueError(f"Unknown noise '{noise}' (valid: {NOISE_KINDS})")
        if balance not in BALANCE_FORMS:
            raise ValueError(f"Unknown balance form '{balance}' "
                             f"(valid: {BALANCE_FORMS})")
        check_float(tau, 'tau', positive=True)
        check_int(train_layers, 'train_layers', min_value=0)
        if train_layers > 0 and edge_index is None:
            raise ValueError(f"'train_layers' must be >= 0 and needs the "
                             f"training 'edge_index' when positive (got "
                             f"train_layers={train_layers}, edge_index "
                             f"{'missing' if edge_index is None else 'given'})")

        self.num_users = num_users
        self.num_items = num_items
        self.dim = dim
        self.weights = dict(rec=rec_weight, bpr=bpr_weight, reg=reg_weight,
                            bal=balance_weight, cl=cl_weight)
        self.tau = tau
        self.negatives = negatives
        self.balance = balance
        self.noise = noise
        self.contrastive = contrastive
        self.propagate = propagate
        self.duplicate_first_contrastive = duplicate_first_contrastive
        # Processes sharing each batch under DDP (see set_world_size).
        self.world_size = 1
        self.init_std = init_std

        self.user_emb = torch.nn.Embedding(num_users, dim)
        self.item_emb = torch.nn.Embedding(num_items, dim)

        channels = _as_channel_dict(metadata)
        self.channel_names: List[str] = list(channels)
        self.psnets = torch.nn.ModuleDict()
        self.denoisers = torch.nn.ModuleDict()
        for name, meta in channels.items():
            meta_dim = None if meta is None else self._check_metadata(
                name, meta)
            if meta is not None:
                self.register_buffer(f'metadata_{name}', meta.detach().to(
                    torch.get_default_dtype()).clone())
            self.psnets[name] = PSNetNoise(dim, metadata_dim=meta_dim,
                                           rank=psnet_rank)
            self.denoisers[name] = DiffusionDenoiser(
                dim, num_steps=num_steps, schedule=schedule,
                denoiser=denoiser)

        # Not a hyperparameter: the batched channels compute the same
        # numbers as the per-channel modules (the reference), faster.
        self.batch_channels = True
        self.propagation = LightGCNInference(num_layers)
        self.train_layers = train_layers
        self.train_propagation = LightGCNInference(train_layers)
        # The graph is data, not state: it moves with .to() but is not saved.
        self.register_buffer('train_edge_index', edge_index, persistent=False)
        # Reference values of the ratio balance form (set on the first step).
        self.register_buffer('balance_refs', torch.zeros(2))
        self.reset_parameters()

    def _check_metadata(self, name: str, meta: Tensor) -> int:
        return check_item_metadata(meta, name, self.num_items)

    def set_world_size(self, world_size: int) -> None:
        r"""Tells the model that each batch is split over :obj:`world_size`
        processes whose gradients
        :class:`~torch.nn.parallel.DistributedDataParallel` averages. The
        batch-mean terms then keep their one-process value by themselves;
        the InfoNCE term is the authors' *sum* over the batch, so each
        process scales its part by :obj:`world_size` to keep the one-process
        objective at the global batch (the trainer calls this)."""
        self.world_size = check_int(world_size, 'world_size')

    def reset_parameters(self):
        r"""Resets all learnable parameters of the module."""
        torch.nn.init.normal_(self.user_emb.weight, std=self.init_std)
        torch.nn.init.normal_(self.item_emb.weight, std=self.init_std)
        for name in self.channel_names:
            self.psnets[name].reset_parameters()
            self.denoisers[name].reset_parameters()
        self.balance_refs.zero_()

    def metadata(self, name: str) -> Optional[Tensor]:
        r"""Returns the metadata buffer of channel :obj:`name`."""
        return getattr(self, f'metadata_{name}', None)

    def encode(self) -> Tuple[Tensor, Tensor]:
        r"""Returns the user and item embeddings the training losses see:
        the raw tables, or their propagation when :obj:`train_layers > 0`."""
        user, item = self.user_emb.weight, self.item_emb.weight
        if self.train_layers == 0:
            return user, item
        return self.train_propagation((user, item), self.train_edge_index)

    def generate_views(
        self,
        pos_item: Tensor,
        item_table: Optional[Tensor] = None,
        noise: Optional[Tensor] = None,
        steps: Optional[Tensor] = None,
    ) -> Tuple[List[Tensor], Tensor]:
        r"""Generates one preference view per channel for the items
        :obj:`pos_item` (rows of :obj:`item_table`, the item embedding table
        by default) and returns them with the summed reconstruction loss.

        All channels are evaluated as one batched computation
        (:mod:`~torch_geometric_infodcl.nn.channel_batch`); with
        :obj:`batch_channels = False` each channel's modules are called in
        turn (the reference, same numbers).

        Args:
            pos_item (torch.Tensor): Positive item ids :obj:`[B]`.
            item_table (torch.Tensor, optional): The item table to diffuse.
                (default: :obj:`None`)
            noise (torch.Tensor, optional): Gaussian noise of every channel,
                :obj:`[C, B, dim]`; drawn if :obj:`None`.
                (default: :obj:`None`)
            steps (torch.Tensor, optional): Diffusion steps of every channel,
                :obj:`[C, B]`; uniform if :obj:`None`. (default: :obj:`None`)
        """
        if item_table is None:
            item_table = self.item_emb.weight
        item = item_table[pos_item]
        shape = (len(self.channel_names), ) + tuple(item.shape)
        if noise is None:
            noise = torch.randn(shape, dtype=item.dtype, device=item.device)
        if steps is None:
            steps = torch.randint(0, self.denoisers[self.channel_names[0]]
                                  .num_steps, shape[:2], device=item.device)
        if self.batch_channels:
            return self._views_batched(pos_item, item, noise, steps)
        return self._views_per_channel(pos_item, item, noise, steps)

    def _views_per_channel(self, pos_item: Tensor, item: Tensor,
                           noise: Tensor,
                           steps: Tensor) -> Tuple[List[Tensor], Tensor]:
        views, rec = [], item.new_zeros(())
        for c, name in enumerate(self.channel_names):
            eps = noise[c]
            if self.noise == 'psnet':
                meta = self.metadata(name)
                eps = self.psnets[name](
                    eps, None if meta is None else meta[pos_item])
            view, rec_k = self.denoisers[name].p_losses(item, noise=eps,
                                                        t=steps[c])
            views.append(view)
            rec = rec + rec_k
        return views, rec

    def _views_batched(self, pos_item: Tensor, item: Tensor, noise: Tensor,
                       steps: Tensor) -> Tuple[List[Tensor], Tensor]:
        names = self.channel_names
        eps = noise
        if self.noise == 'psnet':
            metadata = [self.metadata(name) for name in names]
            rows = (None if metadata[0] is None else
                    [meta[pos_item] for meta in metadata])
            eps = psnet_channels([self.psnets[n] for n in names], noise, rows)
        views, rec = denoise_channels([self.denoisers[n] for n in names],
                                      item, eps, steps)
        return list(views.unbind(0)), rec.sum()

    def contrastive_terms(self, views: List[Tensor], item_table: Tensor,
                          pos_item: Tensor) -> Tensor:
        r"""The InfoNCE term of each view, :obj:`[C]`. With a candidate set
        shared by the channels (:obj:`"full"`, :obj:`"in_batch"`) all views
        go through one logit matrix; sampled candidates are drawn per
        channel."""
        if isinstance(self.negatives, str):
            losses = info_nce_loss(torch.cat(views), item_table,
                                   pos_item.repeat(len(views)), tau=self.tau,
                                   negatives=self.negatives, reduction='none')
            return losses.view(len(views), -1).sum(dim=1)
        return torch.stack([
            info_nce_loss(view, item_table, pos_item, tau=self.tau,
                          negatives=self.negatives) for view in views
        ])

    def loss(self, batch: TrainBatch) -> Tuple[Tensor, Dict[str, Tensor]]:
        r"""Computes the training objective on a batch of triples.

        Returns:
            The weighted total and a dict of the unweighted named terms
            :obj:`rec`, :obj:`cl`, :obj:`bpr`, :obj:`reg`, :obj:`bal`.
        """
        check_batch(batch, self.num_users, self.num_items)
        user_table, item_table = self.encode()
        user = user_table[batch.user]
        pos = item_table[batch.pos_item]
        neg = item_table[batch.neg_item]
        batch_size = batch.user.numel()

        bpr = bpr_loss((user * pos).sum(-1), (user * neg).sum(-1))
        # L2 on the layer-0 rows, as LightGCN does.
        reg = l2_reg_loss(self.user_emb(batch.user),
                          self.item_emb(batch.pos_item),
                          batch_size=batch_size)
        views, rec = self.generate_views(batch.pos_item, item_table)

        cl = bpr.new_zeros(())
        if self.contrastive:
            terms = self.contrastive_terms(views, item_table, batch.pos_item)
            cl = terms.sum()
            if self.duplicate_first_contrastive:
                cl = cl + terms[0]
            cl = cl * self.world_size

        bal = self._balance(views, rec, bpr, batch_size)
        w = self.weights
        total = (w['rec'] * rec + w['cl'] * cl + w['bpr'] * bpr +
                 w['reg'] * reg + w['bal'] * bal)
        return total, dict(rec=rec, cl=cl, bpr=bpr, reg=reg, bal=bal)

    def _balance(self, views: List[Tensor], rec: Tensor, bpr: Tensor,
                 batch_size: int) -> Tensor:
        if self.balance == 'none':
            return rec.new_zeros(())
        if self.balance == 'norm':
            return balance_loss_norm(views, batch_size)
        if self.training and bool(self.balance_refs[0] == 0):
            # The first training step fixes the reference losses.
            self.balance_refs.copy_(torch.stack([rec.detach(),
                                                 bpr.detach()]))
        return balance_loss_ratio(rec, bpr, self.balance_refs[0],
                                  self.balance_refs[1])

    def embeddings(self, edge_index: Optional[Tensor] = None,
                   ) -> Tuple[Tensor, Tensor]:
        r"""Returns the user and item embeddings used for scoring: the tables
        propagated over the (user, item) training :obj:`edge_index`, or the
        raw tables when :obj:`propagate=False` or no graph is given."""
        user, item = self.user_emb.weight, self.item_emb.weight
        if not self.propagate or edge_index is None:
            return user, item
        return self.propagation((user, item), edge_index)

    @torch.no_grad()
    def recommend(
        self,
        edge_index: Optional[Tensor],
        users: Optional[Tensor] = None,
        k: int = 20,
        exclude_edge_index: Optional[Tensor] = None,
    ) -> Tensor:
        r"""Returns the top-:obj:`k` item ids for each user in :obj:`users`
        (all users if :obj:`None`), never recommending pairs listed in
        :obj:`exclude_edge_index` (e.g. the training interactions).

        Shapes:
            - **output:** :obj:`[len(users), k]`
        """
        if not 0 < check_int(k, 'k') <= self.num_items:
            raise ValueError(f"'k' must be in [1, {self.num_items}] "
                             f"(got {k})")
        user_emb, item_emb = self.embeddings(edge_index)
        if users is None:
            users = torch.arange(self.num_users, device=user_emb.device)
        check_ids(users, self.num_users, 'users',
                  f'num_users is {self.num_users}')
        scores = user_emb[users] @ item_emb.t()
        if exclude_edge_index is not None:
            # Map each excluded (user, item) pair to its row in `scores`.
            row_of_user = torch.full((self.num_users, ), -1, dtype=torch.long,
                                     device=scores.device)
            row_of_user[users] = torch.arange(users.numel(),
                                              device=scores.device)
            rows = row_of_user[exclude_edge_index[0]]
            keep = rows >= 0
            scores[rows[keep], exclude_edge_index[1, keep]] = float('-inf')
        return scores.topk(k, dim=-1).indices

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.num_users}, '
                f'{self.num_items}, dim={self.dim}, '
                f'channels={self.channel_names})')
