import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn.models.lightgcn import BPRLoss

from torch_geometric_infodcl.nn.losses import (
    balance_loss_norm,
    balance_loss_ratio,
    bpr_loss,
    info_nce_loss,
    l2_reg_loss,
    reconstruction_loss,
)


def test_bpr_loss_matches_pyg_and_hand_value():
    pos = torch.tensor([1.0, 0.0, 2.5])
    neg = torch.tensor([0.0, 0.0, -1.0])
    expected = (math.log1p(math.exp(-1)) + math.log(2) +
                math.log1p(math.exp(-3.5))) / 3
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    # PyG's BPRLoss takes (positives, negatives) and returns
    # -mean(logsigmoid(pos - neg)).
    gen = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(50, generator=gen), torch.randn(50, generator=gen)
    assert torch.allclose(bpr_loss(pos, neg), BPRLoss(lambda_reg=0)(pos, neg))
    # Raising the positive score lowers the loss.
    assert bpr_loss(pos + 1, neg) < bpr_loss(pos, neg)


def test_bpr_loss_bad_input():
    with pytest.raises(ValueError, match=r'same shape .*\(3,\) and \(2,\)'):
        bpr_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="'pos_score' is empty"):
        bpr_loss(torch.zeros(0), torch.zeros(0))


def naive_info_nce(view, item_emb, pos_item, tau, candidate_ids):
    r"""Row by row: denominator over {positive} | candidates, each once."""
    losses = []
    for b in range(view.size(0)):
        ids = sorted(set(candidate_ids) | {int(pos_item[b])})
        sims = torch.stack([
            F.cosine_similarity(view[b], item_emb[j], dim=0, eps=1e-8)
            for j in ids
        ]) / tau
        positive = ids.index(int(pos_item[b]))
        losses.append(torch.logsumexp(sims, dim=0) - sims[positive])
    return torch.stack(losses)


def tiny_example():
    item_emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    view = torch.tensor([[2.0, 0.0], [0.0, 0.0]])  # second row: zero vector
    return view, item_emb, torch.tensor([0, 2])


def test_info_nce_hand_computed():
    view, item_emb, pos = tiny_example()
    # Row 0: cos = (1, 0, -1) / 0.5; row 1 (zero view): cos = 0 everywhere.
    row0_full = math.log(1 + math.exp(-2) + math.exp(-4))
    loss = info_nce_loss(view, item_emb, pos, reduction='none')
    assert torch.allclose(loss, torch.tensor([row0_full, math.log(3)]))
    assert info_nce_loss(view, item_emb, pos).item() == pytest.approx(
        row0_full + math.log(3), rel=1e-6)
    assert info_nce_loss(view, item_emb, pos, reduction='mean').item() == \
        pytest.approx((row0_full + math.log(3)) / 2, rel=1e-6)

    # In-batch candidates {0, 2}: row 0 sees logits (2, -2).
    loss = info_nce_loss(view, item_emb, pos, negatives='in_batch',
                         reduction='none')
    assert torch.allclose(loss, torch.tensor([math.log(1 + math.exp(-4)),
                                              math.log(2)]))

    # Shared set {1} (duplicated): the positive is added to its own row.
    loss = info_nce_loss(view, item_emb, pos, negatives=torch.tensor([1, 1]),
                         reduction='none')
    assert torch.allclose(loss, torch.tensor([math.log(1 + math.exp(-2)),
                                              math.log(2)]))


def test_info_nce_zero_vectors_have_finite_gradients():
    view, item_emb, pos = tiny_example()
    item_emb = torch.cat([item_emb, torch.zeros(1, 2)])
    view.requires_grad_()
    item_emb.requires_grad_()
    loss = info_nce_loss(view, item_emb, pos)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(view.grad).all()
    assert torch.isfinite(item_emb.grad).all()


def random_problem(seed=0, batch=6, num_items=9, dim=5):
    gen = torch.Generator().manual_seed(seed)
    view = torch.randn(batch, dim, generator=gen, dtype=torch.float64)
    item_emb = torch.randn(num_items, dim, generator=gen, dtype=torch.float64)
    pos = torch.randint(num_items, (batch, ), generator=gen)
    return view, item_emb, pos


@pytest.mark.parametrize('negatives', ['full', 'in_batch', 'tensor', 3])
def test_info_nce_value_and_gradient_match_naive(negatives):
    view, item_emb, pos = random_problem()
    if negatives == 'full':
        candidate_ids = list(range(item_emb.size(0)))
    elif negatives == 'in_batch':
        candidate_ids = pos.tolist()
    elif negatives == 'tensor':
        negatives = torch.tensor([8, 1, 4, 1])
        candidate_ids = negatives.tolist()
    else:  # the documented sampler: distinct uniform ids via randperm
        reference_gen = torch.Generator().manual_seed(7)
        candidate_ids = torch.randperm(item_emb.size(0),
                                       generator=reference_gen)[:3].tolist()
    generator = torch.Generator().manual_seed(7)

    inputs = [view.clone().requires_grad_(),
              item_emb.clone().requires_grad_()]
    loss = info_nce_loss(*inputs, pos, tau=0.3, negatives=negatives,
                         generator=generator)
    loss.backward()
    ref_inputs = [view.clone().requires_grad_(),
                  item_emb.clone().requires_grad_()]
    expected = naive_info_nce(*ref_inputs, pos, 0.3, candidate_ids).sum()
    expected.backward()
    assert torch.allclose(loss, expected, atol=1e-10)
    assert torch.allclose(inputs[0].grad, ref_inputs[0].grad, atol=1e-10)
    assert torch.allclose(inputs[1].grad, ref_inputs[1].grad, atol=1e-10)


def test_info_nce_arange_candidates_equal_full_exactly():
    view, item_emb, pos = random_problem(1, batch=40, num_items=30, dim=8)
    view, item_emb = view.float(), item_emb.float()
    full = info_nce_loss(view, item_emb, pos, reduction='none')
    every = info_nce_loss(view, item_emb, pos, reduction='none',
                          negatives=torch.arange(30))
    sampled_all = info_nce_loss(view, item_emb, pos, reduction='none',
                                negatives=30)
    assert torch.equal(full, every)
    assert torch.equal(full, sampled_all)


def test_info_nce_sampling_is_seeded():
    view, item_emb, pos = random_problem(2, num_items=40)

    def sampled(seed):
        return info_nce_loss(view, item_emb, pos, negatives=5,
                             generator=torch.Generator().manual_seed(seed))

    assert torch.equal(sampled(3), sampled(3))
    assert not torch.equal(sampled(3), sampled(4))


def test_info_nce_bad_input():
    view, item_emb, pos = random_problem()
    with pytest.raises(ValueError, match='same embedding size .* 5 and 4'):
        info_nce_loss(view, item_emb[:, :4], pos)
    with pytest.raises(ValueError, match='one id per row .* 5 ids for 6'):
        info_nce_loss(view, item_emb, pos[:5])
    with pytest.raises(ValueError, match=r"'pos_item' contains the id 9, but "
                       r"'item_emb' has only 9 rows"):
        info_nce_loss(view, item_emb, torch.tensor([0, 1, 2, 3, 4, 9]))
    with pytest.raises(ValueError, match='negative id -2'):
        info_nce_loss(view, item_emb, torch.tensor([0, 1, 2, 3, 4, -2]))
    with pytest.raises(TypeError, match='integer ids'):
        info_nce_loss(view, item_emb, pos.float())
    for tau in (0.0, -1.0, float('nan')):
        with pytest.raises(ValueError, match="'tau' must be a positive"):
            info_nce_loss(view, item_emb, pos, tau=tau)
    with pytest.raises(ValueError, match="'view' is empty"):
        info_nce_loss(view[:0], item_emb, pos[:0])
    with pytest.raises(ValueError, match='must be 2-dimensional'):
        info_nce_loss(view[0], item_emb, pos)
    with pytest.raises(ValueError, match="'full', 'in_batch'"):
        info_nce_loss(view, item_emb, pos, negatives='batch')
    with pytest.raises(ValueError, match=r'in 1\.\.9 .* got 10'):
        info_nce_loss(view, item_emb, pos, negatives=10)
    with pytest.raises(ValueError, match="'negatives' contains the id 12"):
        info_nce_loss(view, item_emb, pos, negatives=torch.tensor([1, 12]))
    with pytest.raises(ValueError, match="'reduction' must be one of"):
        info_nce_loss(view, item_emb, pos, reduction='max')


def test_reconstruction_loss():
    pred = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    target = torch.tensor([[0.0, 2.0], [2.0, 1.0]])
    assert reconstruction_loss(pred, target).item() == pytest.approx(9 / 4)
    with pytest.raises(ValueError, match=r'same shape .*\(2, 2\) and '
                       r'\(2, 1\)'):
        reconstruction_loss(pred, target[:, :1])  # would broadcast silently
    with pytest.raises(ValueError, match="'pred' is empty"):
        reconstruction_loss(pred[:0], target[:0])


def test_l2_reg_loss():
    users = torch.tensor([[1.0, 2.0]])
    items = torch.tensor([[3.0, 0.0]])
    assert l2_reg_loss(users, items, batch_size=2).item() == \
        pytest.approx(0.5 * 14 / 2)
    with pytest.raises(ValueError, match="'batch_size' must be a positive"):
        l2_reg_loss(users, batch_size=0)
    with pytest.raises(ValueError, match='at least one tensor'):
        l2_reg_loss(batch_size=4)


def test_balance_loss_norm():
    views = [torch.ones(2, 3), torch.full((2, 3), 2.0)]
    # (6 * 1 + 6 * 4) / 2 = 15: the squared norm, as in the authors' code.
    assert balance_loss_norm(views, batch_size=2).item() == pytest.approx(15)
    assert balance_loss_norm(views[1], batch_size=2).item() == \
        pytest.approx(12)
    with pytest.raises(ValueError, match='at least one view'):
        balance_loss_norm([], batch_size=2)
    with pytest.raises(ValueError, match="'batch_size' must be a positive"):
        balance_loss_norm(views, batch_size=-1)


def test_balance_loss_ratio_values_and_gradient():
    # Reconstruction fell to 1/4 of its reference, ranking only to 1/2:
    # penalty = log(1/2) - log(1/4) = log 2.
    rec = torch.tensor(0.5, requires_grad=True)
    rank = torch.tensor(0.3, requires_grad=True)
    loss = balance_loss_ratio(rec, rank, rec_ref=2.0, rank_ref=0.6)
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)
    loss.backward()
    # d/d rec of -log(rec): descent raises the reconstruction loss.
    assert rec.grad.item() == pytest.approx(-1 / 0.5, rel=1e-6)
    assert rank.grad is None

    margin = balance_loss_ratio(rec, rank, 2.0, 0.6, margin=0.25)
    assert margin.item() == pytest.approx(math.log(2) - 0.25, rel=1e-6)
    assert balance_loss_ratio(rec, rank, 2.0, 0.6, margin=1.0).item() == 0


def test_balance_loss_ratio_zero_when_balanced_or_ranking_faster():
    rec = torch.tensor(0.5, requires_grad=True)
    assert balance_loss_ratio(rec, 0.3, 1.0, 0.6).item() == 0  # balanced
    slower = balance_loss_ratio(rec, torch.tensor(0.1), 1.0, 0.6)
    assert slower.item() == 0
    slower.backward()
    assert rec.grad.item() == 0


def test_balance_loss_ratio_bad_input():
    rec = torch.tensor(0.5)
    with pytest.raises(ValueError, match="'rec_ref' must be positive"):
        balance_loss_ratio(rec, 0.3, 0.0, 0.6)
    with pytest.raises(ValueError, match="'rec_loss' must be positive"):
        balance_loss_ratio(torch.tensor(0.0), 0.3, 1.0, 0.6)
    with pytest.raises(ValueError, match="'rank_loss' must be a scalar"):
        balance_loss_ratio(rec, torch.ones(2), 1.0, 0.6)
    with pytest.raises(ValueError, match="'margin' must be a non-negative"):
        balance_loss_ratio(rec, 0.3, 1.0, 0.6, margin=-0.1)
    with pytest.raises(TypeError, match="'rec_loss' must be a tensor"):
        balance_loss_ratio(0.5, 0.3, 1.0, 0.6)


@pytest.mark.parametrize('scale', [0.5, 20.0])
def test_fused_logsumexp_matmul_matches_autograd(scale):
    from torch_geometric_infodcl.nn.losses import _LogSumExpMatmul
    g = torch.Generator().manual_seed(0)
    a = (scale * torch.randn(7, 5, generator=g, dtype=torch.float64))
    c = torch.randn(11, 5, generator=g, dtype=torch.float64)
    a1, c1 = a.clone().requires_grad_(), c.clone().requires_grad_()
    a2, c2 = a.clone().requires_grad_(), c.clone().requires_grad_()
    weight = torch.rand(7, generator=g, dtype=torch.float64)
    out = _LogSumExpMatmul.apply(a1, c1)
    ref = torch.logsumexp(a2 @ c2.t(), dim=-1)
    assert torch.allclose(out, ref, atol=1e-10)
    (out * weight).sum().backward()
    (ref * weight).sum().backward()
    assert torch.allclose(a1.grad, a2.grad, atol=1e-10)
    assert torch.allclose(c1.grad, c2.grad, atol=1e-10)


def test_info_nce_under_bf16_autocast_is_close_to_fp32():
    g = torch.Generator().manual_seed(0)
    view = torch.randn(64, 16, generator=g)
    item_emb = torch.randn(50, 16, generator=g, requires_grad=True)
    pos = torch.randint(50, (64, ), generator=g)
    ref = info_nce_loss(view, item_emb, pos)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = info_nce_loss(view, item_emb, pos)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref, rtol=1e-2)
    out.backward()
    assert item_emb.grad.dtype == torch.float32
    assert torch.isfinite(item_emb.grad).all()


def test_sample_distinct_is_uniform_over_subsets():
    from torch_geometric_infodcl.nn.losses import sample_distinct

    # Rejection path (k <= n / 4): exactly k distinct sorted ids, every id
    # equally often (a chi-square bound at a 1e-6 false-alarm rate).
    gen = torch.Generator().manual_seed(0)
    n, k, draws = 40, 8, 4000
    counts = torch.zeros(n)
    for _ in range(draws):
        ids = sample_distinct(n, k, gen)
        assert ids.numel() == k and torch.equal(ids, ids.unique())
        counts += torch.bincount(ids, minlength=n)
    expected = draws * k / n
    chi2 = float(((counts - expected)**2 / expected).sum())
    assert chi2 < 90.0  # chi-square(39) quantile 1 - 1e-6 is about 89
    # Every pair of 12 ids occurs (each has probability 1/66 per draw).
    pairs = {tuple(sample_distinct(12, 2, gen).tolist()) for _ in range(3000)}
    assert len(pairs) == 66
    # Dense path: the whole catalogue.
    assert torch.equal(sample_distinct(5, 5, gen), torch.arange(5))
