import pytest
import torch

from torch_geometric_infodcl.data.sampling import NegativeSampler, TrainBatch


def random_edges(num_users, num_items, num_edges, seed=0):
    gen = torch.Generator().manual_seed(seed)
    user = torch.randint(num_users, (num_edges, ), generator=gen)
    item = torch.randint(num_items, (num_edges, ), generator=gen)
    return torch.stack([user, item])


def training_sets(edge_index, num_users):
    sets = [set() for _ in range(num_users)]
    for u, i in edge_index.t().tolist():
        sets[u].add(i)
    return sets


@pytest.mark.parametrize('max_rounds', [0, 1, 5])
def test_negatives_are_never_training_items(max_rounds):
    num_users, num_items = 30, 12
    # Dense (many collisions, some near-full users) with duplicate edges.
    edge_index = random_edges(num_users, num_items, 250)
    sampler = NegativeSampler(edge_index, num_users, num_items, max_rounds)
    sets = training_sets(edge_index, num_users)

    user = torch.arange(num_users).repeat(200)
    neg = sampler.sample(user, torch.Generator().manual_seed(1))
    assert neg.dtype == torch.long and neg.shape == user.shape
    assert int(neg.min()) >= 0 and int(neg.max()) < num_items
    for u, i in zip(user.tolist(), neg.tolist()):  # Brute force.
        assert i not in sets[u]


def chi_square(counts, expected):
    return float(((counts - expected)**2 / expected).sum())


@pytest.mark.parametrize('max_rounds', [0, 5])
def test_negatives_are_uniform_over_free_items(max_rounds):
    num_items = 10
    edge_index = torch.tensor([[0, 0, 0, 1, 1], [0, 2, 5, 9, 3]])
    sampler = NegativeSampler(edge_index, 2, num_items, max_rounds)
    num_samples = 70_000
    user = torch.zeros(num_samples, dtype=torch.long)
    neg = sampler.sample(user, torch.Generator().manual_seed(3))

    counts = torch.bincount(neg, minlength=num_items).double()
    assert counts[[0, 2, 5]].sum() == 0
    free = counts[[1, 3, 4, 6, 7, 8, 9]]
    # 6 degrees of freedom: the 99.9% quantile of chi^2(6) is 22.46.
    assert chi_square(free, num_samples / 7) < 22.46


def test_exact_path_for_user_with_one_free_item():
    edge_index = torch.tensor([[0] * 9 + [1], list(range(1, 10)) + [0]])
    sampler = NegativeSampler(edge_index, 2, 10, max_rounds=0)
    neg = sampler.sample(torch.tensor([0] * 50 + [1] * 50),
                         torch.Generator().manual_seed(0))
    assert neg[:50].tolist() == [0] * 50
    assert 0 not in neg[50:].tolist()


def test_exact_path_is_uniform_with_gaps_in_many_users():
    # Several users share the gap-key array: the rank -> item inversion
    # must not leak across user boundaries.
    edge_index = torch.tensor([[0, 0, 1, 1, 1, 2], [1, 3, 0, 1, 2, 4]])
    sampler = NegativeSampler(edge_index, 3, 5, max_rounds=0)
    gen = torch.Generator().manual_seed(5)
    expected_free = {0: [0, 2, 4], 1: [3, 4], 2: [0, 1, 2, 3]}
    for u, free in expected_free.items():
        neg = sampler.sample(torch.full((30_000, ), u), gen)
        counts = torch.bincount(neg, minlength=5).double()
        assert set(neg.unique().tolist()) == set(free)
        # 99.9% quantiles of chi^2 with 2, 1 and 3 degrees of freedom.
        bound = {3: 13.82, 2: 10.83, 4: 16.27}[len(free)]
        assert chi_square(counts[free], 30_000 / len(free)) < bound


def test_epoch_covers_every_interaction_once():
    edge_index = random_edges(20, 50, 103, seed=2)
    sampler = NegativeSampler(edge_index, 20, 50)
    batches = list(sampler.epoch_batches(10, torch.Generator().manual_seed(0)))

    assert len(batches) == sampler.num_batches(10) == 11
    assert all(isinstance(b, TrainBatch) for b in batches)
    assert [b.user.numel() for b in batches] == [10] * 10 + [3]
    seen = torch.stack([torch.cat([b.user for b in batches]),
                        torch.cat([b.pos_item for b in batches])])
    key = lambda e: sorted(map(tuple, e.t().tolist()))  # noqa: E731
    assert key(seen) == key(edge_index)
    # The order is shuffled, not the input order.
    assert not torch.equal(seen, edge_index)
    neg = torch.cat([b.neg_item for b in batches])
    assert not sampler.is_interacted(seen[0], neg).any()


def test_epoch_is_deterministic_under_a_seed():
    sampler = NegativeSampler(random_edges(20, 50, 100), 20, 50)

    def epoch(seed):
        gen = torch.Generator().manual_seed(seed)
        return [torch.stack(b) for b in sampler.epoch_batches(16, gen)]

    first, again, other = epoch(7), epoch(7), epoch(8)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_is_interacted():
    sampler = NegativeSampler(torch.tensor([[0, 1, 1], [2, 0, 3]]), 3, 4)
    user = torch.tensor([0, 0, 1, 1, 2, 2])
    item = torch.tensor([2, 3, 0, 1, 3, 0])
    assert sampler.is_interacted(user, item).tolist() == [
        True, False, True, False, False, False
    ]


def test_errors():
    edge_index = torch.tensor([[0, 1], [0, 1]])
    with pytest.raises(ValueError, match='user 1 has interacted with all 2'):
        NegativeSampler(torch.tensor([[1, 1, 0], [0, 1, 0]]), 2, 2)
    with pytest.raises(ValueError, match=r'shape \[2, num_edges\].*\(3, 2\)'):
        NegativeSampler(torch.zeros(3, 2, dtype=torch.long), 2, 2)
    with pytest.raises(TypeError, match='integer ids'):
        NegativeSampler(edge_index.float(), 2, 2)
    with pytest.raises(ValueError, match='column 1 has item id 7'):
        NegativeSampler(torch.tensor([[0, 1], [0, 7]]), 2, 3)
    with pytest.raises(ValueError, match='column 0 has user id -1'):
        NegativeSampler(torch.tensor([[-1, 1], [0, 1]]), 2, 3)
    with pytest.raises(ValueError, match='no training interactions'):
        NegativeSampler(torch.empty(2, 0, dtype=torch.long), 2, 3)
    with pytest.raises(ValueError, match="'num_items' must be a positive"):
        NegativeSampler(edge_index, 2, 0)
    with pytest.raises(TypeError, match="'num_users' must be an int"):
        NegativeSampler(edge_index, 2.0, 3)
    sampler = NegativeSampler(edge_index, 2, 3)
    with pytest.raises(ValueError, match="'batch_size' must be a positive"):
        next(sampler.epoch_batches(0))
    with pytest.raises(TypeError, match="'generator' must be a"):
        sampler.sample(torch.tensor([0]), generator=1)
    with pytest.raises(ValueError, match=r"'user' contains the id 2, but "
                       r"num_users is 2 \(valid ids are 0\.\.1\)"):
        sampler.sample(torch.tensor([0, 2]))


def test_repr():
    sampler = NegativeSampler(torch.tensor([[0, 1], [0, 1]]), 2, 3)
    assert repr(sampler) == ('NegativeSampler(num_users=2, num_items=3, '
                             'num_edges=2)')
