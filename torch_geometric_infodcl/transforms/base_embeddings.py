r"""Base embeddings :math:`(\mathbf{P}, \mathbf{Q})` for
:class:`~torch_geometric_infodcl.transforms.SimilarityMetadata`: a spectral
one (a truncated SVD of the normalised interaction matrix) and a learned one
(a short LightGCN pre-training with the package's own model and sampler)."""
from typing import Tuple

import torch
from torch import Tensor

from torch_geometric_infodcl.data.sampling import NegativeSampler
from torch_geometric_infodcl.models.baselines import PyGLightGCN
from torch_geometric_infodcl.transforms.similarity import unique_pairs
from torch_geometric_infodcl.utils.checks import check_int
from torch_geometric_infodcl.utils.sparse import bipartite_gcn_norm


def _randomized_svd(
    mat: Tensor,
    mat_t: Tensor,
    rank: int,
    niter: int,
    generator: torch.Generator,
) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Randomised SVD with subspace iteration (Halko et al., 2011) of a CSR
    matrix given with its CSR transpose, so that every product is a fast
    CSR-times-dense product."""
    probe = torch.randn(mat.size(1), rank, generator=generator,
                        device=mat.device)
    basis = torch.linalg.qr(torch.sparse.mm(mat, probe)).Q
    for _ in range(niter):
        basis = torch.linalg.qr(torch.sparse.mm(mat_t, basis)).Q
        basis = torch.linalg.qr(torch.sparse.mm(mat, basis)).Q
    # Project onto the basis: mat ~ basis @ (basis^T mat), a [rank, n] SVD.
    small = torch.sparse.mm(mat_t, basis).t()
    left, sigma, right_t = torch.linalg.svd(small, full_matrices=False)
    return basis @ left, sigma, right_t.t()


def svd_base(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    dim: int = 64,
    seed: int = 0,
    niter: int = 6,
) -> Tuple[Tensor, Tensor]:
    r"""Spectral base embeddings: the rank-:obj:`dim` truncated SVD of the
    symmetric-normalised interaction matrix

    .. math::
        \mathbf{D}_u^{-1/2} \mathbf{R} \mathbf{D}_i^{-1/2} \approx
        \mathbf{U} \mathbf{\Sigma} \mathbf{V}^{\top}, \qquad
        \mathbf{P} = \mathbf{U} \mathbf{\Sigma}^{1/2}, \quad
        \mathbf{Q} = \mathbf{V} \mathbf{\Sigma}^{1/2},

    computed by a seeded randomised SVD (subspace iteration). Each
    component's sign is fixed so that its largest-magnitude item entry is
    positive, which makes the result deterministic under :obj:`seed`.

    Args:
        edge_index (torch.Tensor): Training interactions
            :obj:`[2, num_edges]` (row 0: users, row 1: items).
        num_users (int): The number of users.
        num_items (int): The number of items.
        dim (int, optional): The embedding size. (default: :obj:`64`)
        seed (int, optional): Seed of the random projection.
            (default: :obj:`0`)
        niter (int, optional): Subspace iterations of the randomised SVD.
            (default: :obj:`6`)

    Returns:
        :obj:`(user_base, item_base)` of shapes :obj:`[num_users, dim]` and
        :obj:`[num_items, dim]` (float32).
    """
    pairs = unique_pairs(edge_index, num_users, num_items)
    if not 0 < check_int(dim, 'dim') <= min(num_users, num_items):
        raise ValueError(f"'dim' must be in [1, min(num_users, num_items)] = "
                         f"[1, {min(num_users, num_items)}] (got {dim!r})")
    norm, norm_t = bipartite_gcn_norm(pairs, num_users, num_items)
    # Oversampling (2 x dim) sharpens the randomised estimate of the top
    # components: on Office the 64th singular value is then within ~2%.
    rank = min(2 * dim, num_users, num_items)
    generator = torch.Generator(edge_index.device).manual_seed(seed)
    left, sigma, right = _randomized_svd(norm, norm_t, rank, niter, generator)
    left, sigma, right = left[:, :dim], sigma[:dim], right[:, :dim]
    peak = right.abs().argmax(dim=0)
    sign = right[peak, torch.arange(dim, device=right.device)].sign()
    sign[sign == 0] = 1.
    root = sigma.clamp(min=0).sqrt() * sign
    return (left * root).float(), (right * root).float()


def lightgcn_base(
    edge_index: Tensor,
    num_users: int,
    num_items: int,
    dim: int = 64,
    num_layers: int = 3,
    epochs: int = 20,
    batch_size: int = 8192,
    lr: float = 0.01,
    lambda_reg: float = 1e-4,
    seed: int = 0,
) -> Tuple[Tensor, Tensor]:
    r"""Base embeddings from a short pre-training of PyG's
    :class:`~torch_geometric.nn.models.LightGCN`, through the package's own
    :class:`~torch_geometric_infodcl.models.PyGLightGCN` and its
    :meth:`~torch_geometric_infodcl.models.PyGLightGCN.loss` (PyG's BPR
    :meth:`~torch_geometric.nn.models.LightGCN.recommendation_loss`), on the
    distinct training interactions, with the negatives of
    :class:`~torch_geometric_infodcl.data.NegativeSampler` (uniform over the
    items a user has not interacted with) and Adam. Returns the layer-0
    (ego) embeddings, the likely origin of the official pretrained files.

    .. math::
        \mathcal{L} = -\frac{1}{B} \sum_{(u, i, j)} \ln \sigma \left(
        \mathbf{e}_u^{\top}\mathbf{e}_i - \mathbf{e}_u^{\top}\mathbf{e}_j
        \right) + \lambda \| \mathbf{E}^{(0)}_{\mathcal{B}} \|^2 / B

    where :math:`\mathcal{B}` holds the distinct nodes of the batch.

    Args:
        edge_index (torch.Tensor): Training interactions
            :obj:`[2, num_edges]` (row 0: users, row 1: items).
        num_users (int): The number of users.
        num_items (int): The number of items.
        dim (int, optional): The embedding size. (default: :obj:`64`)
        num_layers (int, optional): LightGCN layers. (default: :obj:`3`)
        epochs (int, optional): Passes over the interactions.
            (default: :obj:`20`)
        batch_size (int, optional): Interactions per step.
            (default: :obj:`8192`)
        lr (float, optional): Adam learning rate. (default: :obj:`0.01`)
        lambda_reg (float, optional): L2 strength :math:`\lambda`.
            (default: :obj:`1e-4`)
        seed (int, optional): Seed of initialisation and sampling.
            (default: :obj:`0`)

    Returns:
        :obj:`(user_base, item_base)` of shapes :obj:`[num_users, dim]` and
        :obj:`[num_items, dim]` (float32).
    """
    for value, name in ((dim, 'dim'), (num_layers, 'num_layers'),
                        (batch_size, 'batch_size')):
        check_int(value, name)
    check_int(epochs, 'epochs', min_value=0)
    pairs = unique_pairs(edge_index, num_users, num_items)
    device = edge_index.device
    devices = [device] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = PyGLightGCN(num_users, num_items, dim, num_layers,
                            reg_weight=lambda_reg, edge_index=pairs)
    model = model.to(device).train()
    sampler = NegativeSampler(pairs, num_users, num_items)
    generator = torch.Generator(device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in sampler.epoch_batches(batch_size, generator):
            loss, _ = model.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    ego = model.lightgcn.embedding.weight.detach().float()
    return ego[:num_users].clone(), ego[num_users:].clone()
