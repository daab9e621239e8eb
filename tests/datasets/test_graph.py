import warnings

import numpy as np
import pytest

from torch_geometric_infodcl.datasets.base import COMMON_OPTIONS, SPLIT_OPTIONS
from torch_geometric_infodcl.datasets.graph import EDGE_TYPE, split_graph

OPTIONS = {**COMMON_OPTIONS, **SPLIT_OPTIONS}


def build(splits, declared=None, **options):
    splits = {k: np.array(v, dtype=np.int64).reshape(-1, 2)
              for k, v in splits.items()}
    files = {k: f'{k}.txt' for k in splits}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        data = split_graph(splits, {**OPTIONS, **options}, 'src', files,
                           declared)
    return data, [str(w.message) for w in caught]


ONE_BASED = {'train': [[1, 1], [1, 2], [2, 2]], 'val': [[2, 3]],
             'test': [[2, 1]]}


def test_one_based_file_read_as_zero_based_warns():
    # issue 12, case 4: a phantom user 0 and item 0 appeared silently.
    data, messages = build(ONE_BASED)
    assert data['user'].num_nodes == 3 and data['item'].num_nodes == 4
    hits = [m for m in messages if 'look 1-based' in m]
    assert len(hits) == 1
    assert hits[0].startswith("src: no user and no item has id 0 in "
                              "'train.txt', 'val.txt', 'test.txt'")
    assert 'user and item 0 are nodes without any interaction' in hits[0]
    assert 'Pass one_based=True' in hits[0]
    # Read as 1-based, the graph has no phantom node and no warning:
    data, messages = build({k: np.array(v) - 1
                            for k, v in ONE_BASED.items()})
    assert data['user'].num_nodes == 2 and data['item'].num_nodes == 3
    assert not any('1-based' in m for m in messages)


def test_only_the_kind_without_zero_is_named():
    _, messages = build({'train': [[0, 1], [1, 2]], 'val': [],
                         'test': [[1, 1]]})
    assert any("src: no item has id 0 in 'train.txt'" in m and
               'item 0 is a node without any interaction' in m
               for m in messages)
    assert not any('no user' in m for m in messages)


def test_declared_counts_and_one_based_do_not_warn():
    _, messages = build(ONE_BASED, declared={'user': 3, 'item': 4})
    assert not any('1-based' in m for m in messages)
    _, messages = build(ONE_BASED, num_users=3, num_items=4)
    assert not any('1-based' in m for m in messages)
    _, messages = build(ONE_BASED, one_based=True)
    assert not any('1-based' in m for m in messages)


def test_graph_layout():
    data, _ = build({'train': [[1, 2], [0, 1], [0, 1]], 'test': [[1, 0]]},
                    declared={'user': 2, 'item': 3})
    store = data[EDGE_TYPE]
    # Validation is carved from train per user (user 0's two copies of
    # (0, 1): one to each split, and the overlap leaves train):
    assert store.edge_index.tolist() == [[1], [2]]
    assert store.val_edge_index.tolist() == [[0], [1]]
    assert store.test_edge_index.tolist() == [[1], [0]]
    with pytest.raises(ValueError, match='item id 5 is out of range'):
        build({'train': [[0, 5]], 'test': []}, declared={'item': 3})
