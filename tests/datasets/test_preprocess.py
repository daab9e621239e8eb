import os.path as osp
import warnings

import numpy as np
import pytest

from torch_geometric_infodcl.datasets.preprocess import (
    carve_validation,
    clean_splits,
    dedup_mask,
    implicit_mask,
    kcore_mask,
    preprocess_interactions,
    remap_ids,
    sort_pairs,
    split_counts,
    split_per_user,
)


def as_set(pairs):
    return {tuple(p) for p in np.asarray(pairs).tolist()}


def test_split_counts_office_rule():
    n = np.array([5, 15, 25, 10, 14, 19, 20, 94])
    tr, va, te = split_counts(n)
    assert list(zip(tr, va, te))[:3] == [(3, 1, 1), (12, 1, 2), (20, 2, 3)]
    # test = round-half-up(0.1 n) (min 1), valid = max(1, floor(0.1 n)):
    assert te.tolist() == [1, 2, 3, 1, 1, 2, 2, 9]
    assert va.tolist() == [1, 1, 2, 1, 1, 1, 2, 9]
    assert (tr + va + te == n).all()


def test_split_counts_small_and_ratios():
    tr, va, te = split_counts(np.array([0, 1, 2, 3, 4]))
    assert tr.tolist() == [0, 1, 1, 1, 2]
    assert va.tolist() == [0, 0, 0, 1, 1]
    assert te.tolist() == [0, 0, 1, 1, 1]
    tr, va, te = split_counts(np.array([10, 20]), val_ratio=0.0,
                              test_ratio=0.2)
    assert va.tolist() == [0, 0] and te.tolist() == [2, 4]
    with pytest.raises(ValueError, match='val_ratio'):
        split_counts(np.array([3]), val_ratio=1.5)
    with pytest.raises(ValueError, match='< 1'):
        split_counts(np.array([3]), val_ratio=0.5, test_ratio=0.5)


def test_split_counts_reproduce_office_files(office_dir):
    tr, va, te = (np.loadtxt(osp.join(office_dir, f), dtype=np.int64)
                  for f in ('train.txt', 'valid.txt', 'test.txt'))
    U = 4905
    counts = [np.bincount(s[:, 0], minlength=U) for s in (tr, va, te)]
    expected = split_counts(sum(counts))
    for got, exp in zip(counts, expected):
        assert np.array_equal(got, exp)


def make_log(seed=0, users=30, items=40):
    rng = np.random.default_rng(seed)
    pairs = set()
    for u in range(users):
        for i in rng.choice(items, size=rng.integers(1, 25), replace=False):
            pairs.add((u, int(i)))
    pairs = np.array(sorted(pairs))
    return pairs[rng.permutation(len(pairs))]


def test_split_per_user_random():
    log = make_log()
    tr, va, te = split_per_user(log[:, 0], log[:, 1], seed=3)
    for s in (tr, va, te):
        assert s.dtype == np.int64 and np.array_equal(s, sort_pairs(s))
    assert as_set(tr) | as_set(va) | as_set(te) == as_set(log)
    assert len(tr) + len(va) + len(te) == len(log)
    n = np.bincount(log[:, 0])
    exp = split_counts(n)
    for s, e in zip((tr, va, te), exp):
        assert np.array_equal(np.bincount(s[:, 0], minlength=n.size), e)
    again = split_per_user(log[:, 0], log[:, 1], seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again))
    other = split_per_user(log[:, 0], log[:, 1], seed=4)
    assert not np.array_equal(te, other[2])


def test_split_per_user_temporal():
    # user 0: 10 items at times 10..1 (item k at time 10 - k); user 1: 5.
    user = np.array([0] * 10 + [1] * 5)
    item = np.array(list(range(10)) + [7, 8, 9, 3, 4])
    time = np.array([10 - k for k in range(10)] + [5, 1, 3, 2, 4])
    tr, va, te = split_per_user(user, item, time, method='temporal')
    # user 0: n=10 -> 8/1/1: latest (item 0) test, next (item 1) valid.
    # user 1: n=5 -> 3/1/1: latest item 7 (t=5) test, item 4 (t=4) valid.
    assert te.tolist() == [[0, 0], [1, 7]]
    assert va.tolist() == [[0, 1], [1, 4]]
    expected = [[0, k] for k in range(2, 10)] + [[1, 3], [1, 8], [1, 9]]
    assert tr.tolist() == expected
    with pytest.raises(ValueError, match='timestamps'):
        split_per_user(user, item, method='temporal')
    with pytest.raises(ValueError, match='method'):
        split_per_user(user, item, method='sorted')


def test_carve_validation():
    log = make_log(1)
    tr, va = carve_validation(log, val_ratio=0.1, seed=0)
    assert as_set(tr) | as_set(va) == as_set(log)
    assert not as_set(tr) & as_set(va)
    n = np.bincount(log[:, 0])
    nv = np.bincount(va[:, 0], minlength=n.size)
    assert np.array_equal(nv, np.where(n >= 2, np.maximum(1, n // 10), 0))
    assert (np.bincount(tr[:, 0], minlength=n.size) >= 1).all()
    tr2, va2 = carve_validation(log, val_ratio=0.1, seed=0)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    _, va3 = carve_validation(log, val_ratio=0.1, seed=1)
    assert not np.array_equal(va, va3)


def test_implicit_and_dedup():
    assert implicit_mask(np.array([1, 4, 5, 3])).all()
    assert implicit_mask(np.array([1, 4, 5, 3]), 4).tolist() == \
        [False, True, True, False]
    u = np.array([0, 0, 1, 0, 1])
    i = np.array([5, 5, 2, 5, 3])
    t = np.array([30, 10, 1, 10, 2])
    # (0, 5) occurs 3 times: the earliest (t=10) first in input order wins.
    assert dedup_mask(u, i, t).tolist() == [False, True, True, False, True]
    assert dedup_mask(u, i).tolist() == [True, False, True, False, True]


def test_kcore_fixed_point():
    # k=2.  Item 3 has one interaction (user 2): dropping it leaves user 2
    # with one interaction (item 2) -> dropped -> item 2 is left with user 1
    # only -> dropped -> user 1 has one (item 0)... a cascade.
    u = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
    i = np.array([0, 1, 4, 0, 2, 2, 3, 0, 1, 4])
    mask = kcore_mask(u, i, 2)
    kept = as_set(np.stack([u[mask], i[mask]], 1))
    assert kept == {(0, 0), (0, 1), (0, 4), (3, 0), (3, 1), (3, 4)}
    # One pass only would have kept user 1:
    du, di = np.bincount(u), np.bincount(i)
    one_pass = (du[u] >= 2) & (di[i] >= 2)
    assert one_pass.sum() > mask.sum()
    # Fixed point: every remaining degree >= k.
    assert np.bincount(u[mask])[np.unique(u[mask])].min() >= 2
    assert np.bincount(i[mask])[np.unique(i[mask])].min() >= 2
    assert kcore_mask(u, i, 0).all()
    # item_k=3 keeps item 0 only (degree 3), user_k=1 keeps its users:
    assert kcore_mask(u, i, 1, 3).tolist() == (i == 0).tolist()
    assert kcore_mask(u, i, 10).sum() == 0


def test_remap_ids():
    new, orig = remap_ids(np.array(['b', 'a', 'c', 'a'], dtype=object))
    assert new.tolist() == [1, 0, 2, 0]
    assert orig.tolist() == ['a', 'b', 'c']
    new, orig = remap_ids(np.array([50, 7, 50]))
    assert new.tolist() == [1, 0, 1] and orig.tolist() == [7, 50]


def test_clean_splits():
    splits = {
        'train': np.array([[1, 2], [0, 3], [0, 1], [0, 1], [2, 2], [0, 4]]),
        'val': np.array([[0, 2], [1, 1], [0, 4]]),
        'test': np.array([[0, 3], [3, 0], [1, 1]]),
    }
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        out = clean_splits(splits, 4, 5, source='toy')
    msgs = [str(x.message) for x in w]
    assert any('train split: dropped 1 duplicate' in m for m in msgs)
    assert any('1 interaction(s) appear in both the val and the test' in m
               for m in msgs)
    assert any('1 interaction(s) appear in both the train and the test' in m
               for m in msgs)
    assert any('1 interaction(s) appear in both the train and the val' in m
               for m in msgs)
    assert any('1 user(s) in the test split have no training' in m
               for m in msgs)
    assert out['train'].tolist() == [[0, 1], [1, 2], [2, 2]]
    assert out['val'].tolist() == [[0, 2], [0, 4]]
    assert out['test'].tolist() == [[0, 3], [1, 1], [3, 0]]
    with pytest.warns(UserWarning, match='duplicate'), pytest.raises(
            ValueError, match="both the val and the test split.*'error'"):
        clean_splits(splits, 4, 5, on_overlap='error')
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        kept = clean_splits(splits, 4, 5, on_overlap='keep')
    assert [0, 3] in kept['train'].tolist()
    with pytest.raises(ValueError, match='item id 4 is out of range for 4 '
                       'items'):
        clean_splits(splits, 4, 4, files={'train': 'x/train.txt'})
    with pytest.raises(ValueError, match=r"train split \('x/train.txt'\): "
                       'user id 3'):
        clean_splits({'train': np.array([[3, 0]]), 'val': np.zeros((0, 2)),
                      'test': np.zeros((0, 2))}, 3, 5,
                     files={'train': 'x/train.txt'})


def test_preprocess_interactions():
    # Raw string ids; 'a'-'x' is duplicated (kept once); rating 1 of 'b'-'y'
    # is under threshold 2, which leaves item 'y' with one user, so the
    # 2-core drops items 'y', 'z', 'v' and then user 'c'.
    user = np.array(['a', 'a', 'a', 'b', 'b', 'b', 'c', 'a', 'd', 'd', 'b'],
                    dtype=object)
    item = np.array(['x', 'y', 'w', 'x', 'y', 'w', 'z', 'x', 'x', 'w', 'v'],
                    dtype=object)
    rating = np.array([5, 5, 5, 4, 1, 5, 5, 5, 3, 3, 4])
    time = np.arange(11)
    res = preprocess_interactions(user, item, rating, time,
                                  implicit_threshold=2, k_core=2,
                                  val_ratio=0.0, test_ratio=0.4, seed=0)
    assert res.user_ids.tolist() == ['a', 'b', 'd']
    assert res.item_ids.tolist() == ['w', 'x']
    assert (res.num_users, res.num_items) == (3, 2)
    assert res.stats == {'raw': 11, 'after_threshold': 10, 'duplicates': 1,
                         'after_kcore': 6}
    all_pairs = as_set(np.concatenate([res.train, res.val, res.test]))
    assert all_pairs == {(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)}
    assert len(res.val) == 0
    assert np.bincount(res.test[:, 0]).tolist() == [1, 1, 1]
    tmp = preprocess_interactions(user, item, rating, time, k_core=2,
                                  split='temporal', val_ratio=0.0,
                                  test_ratio=0.4)
    # No threshold: 'b'-'y' stays, so item 'y' (a, b) survives; temporal:
    # the latest interaction of each user ('w', new id 0) is its test.
    assert tmp.item_ids.tolist() == ['w', 'x', 'y']
    assert tmp.test.tolist() == [[0, 0], [1, 0], [2, 0]]
