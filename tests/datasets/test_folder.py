import json
import warnings

import pytest
import torch
from file_helpers import write

from torch_geometric_infodcl.datasets import (
    EDGE_TYPE,
    FORMATS,
    FormatDetectionError,
    InteractionFolder,
    RecommenderDataset,
)
from torch_geometric_infodcl.experiment import load_data


def edges(data, name='edge_index'):
    return data[EDGE_TYPE][name].t().tolist()


def load(root, folder, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        data = InteractionFolder(str(root), str(folder), **options)[0]
    return data, [str(w.message) for w in caught]


def test_rating_column_is_not_an_item(tmp_path):
    # issue 12, case 1: `user item rating` lines were read as LightGCN lines
    # (the rating became a second item).
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 5 1\n1 3 1\n0 2 1\n')
    write(raw / 'valid.txt', '1 0 1\n')
    write(raw / 'test.txt', '0 4 1\n1 1 1\n')
    data, messages = load(tmp_path / 'root', raw)
    assert data['item'].num_nodes == 6
    assert edges(data) == [[0, 2], [0, 5], [1, 3]]
    assert edges(data, 'val_edge_index') == [[1, 0]]
    assert edges(data, 'test_edge_index') == [[0, 4], [1, 1]]
    # The chosen format and its evidence are reported:
    assert any('as pairs lines because every line holds 3 fields and column '
               '3 holds 1 on all 6 lines' in m for m in messages)


def test_timestamp_column_is_not_an_item(tmp_path):
    # issue 12: a timestamp column produced 978,411,140 items.
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 5 978300760\n1 3 978302109\n0 3 978301968\n')
    write(raw / 'test.txt', '1 5 978300275\n')
    data, _ = load(tmp_path / 'root', raw)
    assert data['item'].num_nodes == 6 and data['user'].num_nodes == 2
    assert edges(data, 'test_edge_index') == [[1, 5]]


def test_ambiguous_folder_refused_and_format_chooses(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1 2\n1 2 3\n2 3 0\n')
    write(raw / 'test.txt', '0 3 4\n')
    with pytest.raises(FormatDetectionError, match="'pairs'.*'lightgcn'.*"
                       "format='pairs' or format='lightgcn'.*--format"):
        load(tmp_path / 'root', raw)
    pairs, _ = load(tmp_path / 'root', raw, format='pairs')
    assert pairs['item'].num_nodes == 4
    assert edges(pairs, 'test_edge_index') == [[0, 3]]
    lightgcn, _ = load(tmp_path / 'root', raw, format='lightgcn')
    assert lightgcn['item'].num_nodes == 5
    assert edges(lightgcn, 'test_edge_index') == [[0, 3], [0, 4]]


def test_two_layouts_in_one_folder_refused(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1\n1 0\n')
    write(raw / 'test.txt', '0 0\n')
    write(raw / 'train.json', json.dumps({'0': [1], '1': [2]}))
    write(raw / 'test.json', json.dumps({'0': [2]}))
    with pytest.raises(FormatDetectionError) as e:
        load(tmp_path / 'root', raw)
    msg = str(e.value)
    assert 'json (test.json, train.json)' in msg
    assert 'text (test.txt, train.txt)' in msg
    assert ("pass format='json', format='pairs' or format='lightgcn' "
            '(command line: --format)') in msg
    data, messages = load(tmp_path / 'root', raw, format='json')
    assert edges(data) == [[0, 1], [1, 2]]
    assert not any('reading the' in m for m in messages)  # chosen, not found
    data, _ = load(tmp_path / 'root', raw, format='pairs')
    assert edges(data) == [[0, 1], [1, 0]]


def test_layout_found_is_reported(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.json', json.dumps({'0': [1], '1': [0]}))
    write(raw / 'test.json', json.dumps({'0': [0]}))
    _, messages = load(tmp_path / 'root', raw)
    assert any("reading the json files test.json, train.json" in m
               for m in messages)


def test_format_values(tmp_path):
    assert FORMATS == ('json', 'npy', 'pairs', 'lightgcn', 'movielens',
                       'amazon-json', 'amazon-csv', 'taobao')
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1\n')
    write(raw / 'test.txt', '0 0\n')
    with pytest.raises(ValueError, match=r"format must be one of \['auto', "
                       "'json'.*got 'csv'"):
        InteractionFolder(str(tmp_path), str(raw), format='csv')
    with pytest.raises(ValueError, match='format must be one of'):
        RecommenderDataset(str(tmp_path), 'office', format='json')


def test_load_data_passes_format(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1 2\n1 2 3\n2 3 0\n')
    write(raw / 'test.txt', '0 3 4\n')
    data, raw_dir = load_data(str(raw), str(tmp_path / 'root'),
                              format='lightgcn')
    assert raw_dir == str(raw) and data['item'].num_nodes == 5
    data, raw_dir = load_data('synthetic', str(tmp_path / 'root'))
    assert raw_dir is None and data['user'].num_nodes == 2000
    with pytest.raises(TypeError, match="unknown option.*'format'"):
        load_data('synthetic', str(tmp_path / 'root'), format='pairs')


def test_cli_format_flag():
    import os.path as osp
    import sys
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..',
                                'examples'))
    try:
        from train_infodcl import parse_args
    finally:
        sys.path.pop(0)
    assert parse_args(['--format', 'pairs']).format == 'pairs'
    assert parse_args([]).format == 'auto'
    with pytest.raises(SystemExit):
        parse_args(['--format', 'csv'])


def test_sub_folder_and_empty_folder(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'split' / 'train.txt', '0 1\n')
    write(raw / 'split' / 'test.txt', '0 0\n')
    data, _ = load(tmp_path / 'root', raw)
    assert edges(data) == [[0, 1]]
    assert torch.equal(data[EDGE_TYPE].test_edge_index,
                       torch.tensor([[0], [0]]))
