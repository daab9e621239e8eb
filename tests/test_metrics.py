import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from torch_geometric.metrics import (
    LinkPredHitRatio,
    LinkPredMRR,
    LinkPredNDCG,
    LinkPredPrecision,
    LinkPredRecall,
)
from torch_geometric_infodcl.metrics import full_rank_metrics

NAMES = ('recall', 'ndcg', 'precision', 'hit', 'mrr')


def random_problem(num_users=40, num_items=60, dim=8, seed=0):
    r"""Float64 embeddings (ties practically impossible), targets and two
    disjoint exclude sets with duplicated pairs; some users have targets but
    nothing excluded, some have no targets at all."""
    gen = torch.Generator().manual_seed(seed)
    user_emb = torch.randn(num_users, dim, generator=gen, dtype=torch.float64)
    item_emb = torch.randn(num_items, dim, generator=gen, dtype=torch.float64)
    # Assign each (user, item) pair to target / train / valid / nothing.
    role = torch.randint(0, 8, (num_users, num_items), generator=gen)
    role[:5] = torch.where(role[:5] == 1, 0, role[:5])  # no train: users 0-4
    role[-3:] = torch.where(role[-3:] == 0, 3, role[-3:])  # no targets
    target = (role == 0).nonzero().t()
    train = (role == 1).nonzero().t()
    valid = (role == 2).nonzero().t()
    train = torch.cat([train, train[:, :10]], dim=1)  # duplicates
    return user_emb, item_emb, target, train, valid


def brute_force(user_emb, item_emb, target, excludes, ks):
    r"""Explicit per-user loops over a float64 numpy ranking."""
    scores = user_emb.numpy() @ item_emb.numpy().T
    targets, masked = {}, {}
    for u, i in target.t().tolist():
        targets.setdefault(u, set()).add(i)
    for exclude in excludes:
        for u, i in exclude.t().tolist():
            masked.setdefault(u, set()).add(i)
    sums = {f'{name}@{k}': 0.0 for k in ks for name in NAMES}
    for u in sorted(targets):
        row = scores[u].copy()
        for i in masked.get(u, ()):
            row[i] = -np.inf
        ranking = np.argsort(-row, kind='stable')
        for k in ks:
            hits = [int(i in targets[u]) for i in ranking[:k]]
            num_hits = sum(hits)
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2)
                       for r in range(min(len(targets[u]), k)))
            first = next((r + 1 for r, h in enumerate(hits) if h), None)
            sums[f'recall@{k}'] += num_hits / len(targets[u])
            sums[f'precision@{k}'] += num_hits / k
            sums[f'hit@{k}'] += float(num_hits > 0)
            sums[f'mrr@{k}'] += 1 / first if first else 0.0
            sums[f'ndcg@{k}'] += dcg / idcg
    return {key: value / len(targets) for key, value in sums.items()}


def test_hand_computed_example():
    # 1-d embeddings: user 0 ranks items 0 > 1 > 2 > 3 > 4, user 1 the
    # reverse. User 0: item 0 excluded, targets {1, 3} -> hits [1, 0, 1].
    # User 1: nothing excluded, target {3} -> hits [0, 1, 0].
    # User 2 has no targets and is not evaluated.
    user_emb = torch.tensor([[1.], [-1.], [2.]])
    item_emb = torch.tensor([[5.], [4.], [3.], [2.], [1.]])
    target = torch.tensor([[0, 0, 1], [1, 3, 3]])
    exclude = torch.tensor([[0, 2], [0, 4]])
    out = full_rank_metrics(user_emb, item_emb, target, exclude, ks=(1, 2, 3))
    log3 = math.log2(3)
    expected = {
        'recall@1': 0.25, 'precision@1': 0.5, 'hit@1': 0.5, 'mrr@1': 0.5,
        'ndcg@1': 0.5,
        'recall@2': 0.75, 'precision@2': 0.5, 'hit@2': 1.0, 'mrr@2': 0.75,
        'ndcg@2': (1 / (1 + 1 / log3) + 1 / log3) / 2,
        'recall@3': 1.0, 'precision@3': 0.5, 'hit@3': 1.0, 'mrr@3': 0.75,
        'ndcg@3': (1.5 / (1 + 1 / log3) + 1 / log3) / 2,
        'num_users': 2,
    }
    assert out.keys() == expected.keys()
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-12), key


def test_reference_protocol_differs_from_standard():
    # All users rank items 0 > 1 > 2 > 3; users with targets are 0, 2, 3
    # (user 1 has none). recall@1: user 0 -> 1/3, user 2 -> 0, user 3 -> 1.
    user_emb = torch.ones(4, 1)
    item_emb = torch.tensor([[4.], [3.], [2.], [1.]])
    target = torch.tensor([[0, 0, 0, 2, 3], [0, 1, 2, 3, 0]])
    standard = full_rank_metrics(user_emb, item_emb, target, ks=(1, ),
                                 batch_size=2)
    reference = full_rank_metrics(user_emb, item_emb, target, ks=(1, ),
                                  batch_size=2, protocol='reference')
    assert standard['recall@1'] == pytest.approx(4 / 9)
    # Batches {0, 2} and {3}: round(1/6, 4) = 0.1667 and 1.0.
    assert reference['recall@1'] == pytest.approx((0.1667 + 1.0) / 2)
    assert reference['num_users'] == standard['num_users'] == 3


@pytest.mark.parametrize('batch_size', [1, 7, 2048])
def test_matches_brute_force(batch_size):
    user_emb, item_emb, target, train, valid = random_problem()
    ks = (1, 5, 10, 60)
    out = full_rank_metrics(user_emb, item_emb, target, [train, valid],
                            ks=ks, batch_size=batch_size)
    expected = brute_force(user_emb, item_emb, target, [train, valid], ks)
    assert out['num_users'] == 37
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-12), key
    # K = num_items ranks the whole catalogue: every target is found.
    assert out['recall@60'] == pytest.approx(1.0)


def test_matches_pyg_link_pred_metrics():
    user_emb, item_emb, target, train, valid = random_problem(seed=1)
    exclude = torch.cat([train, valid], dim=1)
    scores = user_emb @ item_emb.t()
    scores[exclude[0], exclude[1]] = -math.inf
    pred_index_mat = scores.topk(20, dim=1).indices
    # Unsorted targets take the sorting path.
    gen = torch.Generator().manual_seed(0)
    shuffled = target[:, torch.randperm(target.size(1), generator=gen)]
    out = full_rank_metrics(user_emb, item_emb, shuffled, (train, valid),
                            ks=(5, 20), batch_size=16)
    for k in (5, 20):
        for name, metric in (('recall', LinkPredRecall(k)),
                             ('ndcg', LinkPredNDCG(k)),
                             ('precision', LinkPredPrecision(k)),
                             ('hit', LinkPredHitRatio(k)),
                             ('mrr', LinkPredMRR(k))):
            metric.update(pred_index_mat, target)
            assert out[f'{name}@{k}'] == pytest.approx(
                float(metric.compute()), abs=1e-6), f'{name}@{k}'


def test_user_without_training_interactions_is_scored():
    user_emb, item_emb, target, train, valid = random_problem(seed=2)
    assert not bool((train[0] == 0).any())  # user 0: targets, no train
    only_user_0 = target[:, target[0] == 0]
    out = full_rank_metrics(user_emb, item_emb, only_user_0, train, ks=(5, ))
    expected = brute_force(user_emb, item_emb, only_user_0, [train], (5, ))
    assert out['num_users'] == 1
    assert out['recall@5'] == pytest.approx(expected['recall@5'])


def test_float32_and_batch_size_invariance():
    user_emb, item_emb, target, train, _ = random_problem(seed=3)
    base = full_rank_metrics(user_emb, item_emb, target, train)
    small = full_rank_metrics(user_emb.float(), item_emb.float(), target,
                              train, batch_size=3)
    for key, value in base.items():
        assert small[key] == pytest.approx(value, abs=1e-6), key


def test_bad_inputs():
    user_emb, item_emb, target, train, valid = random_problem(seed=4)
    with pytest.raises(ValueError, match=r"2 target \(user, item\) pairs "
                       r"are also in 'exclude_edge_index'"):
        full_rank_metrics(user_emb, item_emb, target,
                          [train, target[:, :2]])
    bad = user_emb.clone()
    bad[7, 0] = float('nan')
    with pytest.raises(ValueError, match=r"'user_emb' holds NaN or inf "
                       r"values \(first in row 7\)"):
        full_rank_metrics(bad, item_emb, target)
    bad = item_emb.clone()
    bad[2, 1] = float('inf')
    with pytest.raises(ValueError, match="'item_emb' holds NaN or inf"):
        full_rank_metrics(user_emb, bad, target)
    with pytest.raises(ValueError, match='same dimension'):
        full_rank_metrics(user_emb, item_emb[:, :4], target)
    with pytest.raises(ValueError, match=r"'user_emb' must have shape"):
        full_rank_metrics(user_emb[0], item_emb, target)
    with pytest.raises(TypeError, match='floating-point'):
        full_rank_metrics(user_emb.long(), item_emb, target)
    with pytest.raises(ValueError, match=r"'target_edge_index' column 1 "
                       r"has item id 60"):
        full_rank_metrics(user_emb, item_emb, torch.tensor([[0, 1], [0, 60]]))
    with pytest.raises(ValueError, match=r"'exclude_edge_index\[1\]' "
                       r"column 0 has user id 40"):
        full_rank_metrics(user_emb, item_emb, target,
                          [train, torch.tensor([[40], [0]])])
    with pytest.raises(ValueError, match=r"shape \[2, num_edges\]"):
        full_rank_metrics(user_emb, item_emb, target.t())
    with pytest.raises(ValueError, match=r"K=61, larger than the number of "
                       r"items \(60\)"):
        full_rank_metrics(user_emb, item_emb, target, ks=(10, 61))
    with pytest.raises(ValueError, match="'ks' must hold positive"):
        full_rank_metrics(user_emb, item_emb, target, ks=(0, ))
    with pytest.raises(ValueError, match="'protocol' must be"):
        full_rank_metrics(user_emb, item_emb, target, protocol='paper')
    with pytest.raises(ValueError, match='holds no pairs'):
        full_rank_metrics(user_emb, item_emb, target[:, :0])


# Ties and precision ##########################################################


def test_ties_rank_the_lower_item_id_first():
    # Every item scores the same: the ranking is 0, 1, 2, ... with the
    # excluded item 0 last. User 0's targets {3, 5} sit at ranks 3 and 5;
    # user 1's target {1} at rank 1.
    user_emb = torch.ones(2, 2)
    item_emb = torch.ones(6, 2)
    target = torch.tensor([[0, 0, 1], [3, 5, 1]])
    exclude = torch.tensor([[0, 1], [0, 0]])
    out = full_rank_metrics(user_emb, item_emb, target, exclude,
                            ks=(1, 2, 3, 5))
    assert out['recall@1'] == pytest.approx((0 + 1) / 2)
    assert out['recall@2'] == pytest.approx((0 + 1) / 2)
    assert out['recall@3'] == pytest.approx((0.5 + 1) / 2)
    assert out['recall@5'] == pytest.approx((1 + 1) / 2)
    assert out['mrr@5'] == pytest.approx((1 / 3 + 1) / 2)
    ndcg_user0 = (1 / math.log2(4) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    assert out['ndcg@5'] == pytest.approx((ndcg_user0 + 1) / 2)


def test_ties_at_the_cut_off_go_to_the_lower_item_id():
    # Items 1..9 tie below item 0; with K = 3 the top-3 of user 0 must be
    # items 0, 1, 2, so target 2 is a hit and target 9 is not.
    item_emb = torch.ones(10, 1)
    item_emb[0] = 2.
    out = full_rank_metrics(torch.ones(1, 1), item_emb,
                            torch.tensor([[0, 0], [2, 9]]), ks=(3, ))
    assert out['recall@3'] == pytest.approx(0.5)
    assert out['mrr@3'] == pytest.approx(1 / 3)


def large_norm_problem():
    r"""30 items on one ray with scales 1..2; user 0's target is the best
    item (29), user 1's the second best (28)."""
    scale = torch.linspace(1., 2., 30).view(-1, 1)
    return scale * torch.ones(1, 8), torch.tensor([[0, 1], [29, 28]])


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_precision_scores_do_not_overflow(dtype):
    # Issue 12: fp16 scores of large-norm embeddings overflowed to inf
    # (8 * 100 * 150 > 65504) and the inf ties changed Recall@10 silently.
    # Scores are computed in float32: the same metrics as the float32 run.
    item_dir, target = large_norm_problem()
    user_emb = torch.full((2, 8), 100., dtype=dtype)
    item_emb = (100. * item_dir).to(dtype)
    out = full_rank_metrics(user_emb, item_emb, target, ks=(1, 10))
    assert out['recall@1'] == pytest.approx(0.5)
    assert out['mrr@10'] == pytest.approx((1 + 1 / 2) / 2)
    assert out == full_rank_metrics(user_emb.float(), item_emb.float(),
                                    target, ks=(1, 10))


def test_float32_scores_that_would_overflow_use_float64():
    # Finite float32 embeddings whose products exceed the float32 range.
    item_dir, target = large_norm_problem()
    user_emb = torch.full((2, 8), 1e20)
    item_emb = 1e20 * item_dir
    out = full_rank_metrics(user_emb, item_emb, target, ks=(1, 10))
    assert out['recall@1'] == pytest.approx(0.5)
    assert out == full_rank_metrics(user_emb.double(), item_emb.double(),
                                    target, ks=(1, 10))
    with pytest.raises(ValueError, match='overflow'):
        full_rank_metrics(user_emb.double() * 1e140,
                          item_emb.double() * 1e140, target, ks=(1, ))


# Property-based: random small problems against an exact brute force ##########

DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@st.composite
def small_problems(draw):
    r"""Embeddings with small integer entries (exact scores in every dtype,
    hence many ties), each (user, item) pair a target, excluded by one of
    two lists, or neither; some pairs duplicated; users without targets."""
    num_users = draw(st.integers(1, 6))
    num_items = draw(st.integers(1, 8))
    dim = draw(st.integers(1, 3))
    entries = st.integers(-2, 2)
    user = draw(st.lists(st.lists(entries, min_size=dim, max_size=dim),
                         min_size=num_users, max_size=num_users))
    item = draw(st.lists(st.lists(entries, min_size=dim, max_size=dim),
                         min_size=num_items, max_size=num_items))
    roles = draw(st.lists(st.sampled_from(['target', 'train', 'valid', '']),
                          min_size=num_users * num_items,
                          max_size=num_users * num_items))
    pairs = {role: [(p // num_items, p % num_items)
                    for p, r in enumerate(roles) if r == role]
             for role in ('target', 'train', 'valid')}
    if not pairs['target']:
        pairs['target'] = [(0, draw(st.integers(0, num_items - 1)))]
        pairs['train'] = [p for p in pairs['train'] if p not in
                          pairs['target']]
        pairs['valid'] = [p for p in pairs['valid'] if p not in
                          pairs['target']]
    for role in pairs:  # duplicated pairs count once
        pairs[role] += draw(st.lists(st.sampled_from(pairs[role]),
                                     max_size=2)) if pairs[role] else []
    ks = draw(st.lists(st.integers(1, num_items), min_size=1, max_size=3))
    return dict(user=user, item=item, pairs=pairs, ks=tuple(ks),
                dtype=draw(st.sampled_from(DTYPES)),
                batch_size=draw(st.integers(1, 7)),
                protocol=draw(st.sampled_from(['standard', 'reference'])))


def edge_tensor(pairs):
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2).t()


def brute_force_exact(problem):
    r"""Per-user loops over exact integer scores; excluded items score
    -inf; ties are ranked by increasing item id (the documented rule)."""
    user, item, pairs = problem['user'], problem['item'], problem['pairs']
    targets, masked = {}, {}
    for u, i in pairs['target']:
        targets.setdefault(u, set()).add(i)
    for u, i in pairs['train'] + pairs['valid']:
        masked.setdefault(u, set()).add(i)
    per_user = []
    for u in sorted(targets):
        score = [-math.inf if i in masked.get(u, ()) else
                 sum(a * b for a, b in zip(user[u], item[i]))
                 for i in range(len(item))]
        ranking = sorted(range(len(item)), key=lambda i: (-score[i], i))
        values = {}
        for k in set(problem['ks']):
            hits = [int(i in targets[u]) for i in ranking[:k]]
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2)
                       for r in range(min(len(targets[u]), k)))
            first = next((r + 1 for r, h in enumerate(hits) if h), None)
            values[f'recall@{k}'] = sum(hits) / len(targets[u])
            values[f'precision@{k}'] = sum(hits) / k
            values[f'hit@{k}'] = float(sum(hits) > 0)
            values[f'mrr@{k}'] = 1 / first if first else 0.0
            values[f'ndcg@{k}'] = dcg / idcg
        per_user.append(values)
    if problem['protocol'] == 'standard':
        means = [per_user]
    else:  # batches of users in id order, each mean rounded to 4 decimals
        size = problem['batch_size']
        means = [per_user[s:s + size] for s in range(0, len(per_user), size)]
    out = {
        key: sum(round(sum(v[key] for v in batch) / len(batch), 4)
                 if problem['protocol'] == 'reference' else
                 sum(v[key] for v in batch) / len(batch)
                 for batch in means) / len(means)
        for key in per_user[0]
    }
    out['num_users'] = len(targets)
    return out


@settings(max_examples=250, derandomize=True, deadline=None, database=None)
@given(small_problems())
def test_matches_exact_brute_force_on_random_small_problems(problem):
    dtype = problem['dtype']
    out = full_rank_metrics(
        torch.tensor(problem['user'], dtype=dtype),
        torch.tensor(problem['item'], dtype=dtype),
        edge_tensor(problem['pairs']['target']),
        [edge_tensor(problem['pairs']['train']),
         edge_tensor(problem['pairs']['valid'])],
        ks=problem['ks'], batch_size=problem['batch_size'],
        protocol=problem['protocol'])
    expected = brute_force_exact(problem)
    assert out.keys() == expected.keys()
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-9), key
