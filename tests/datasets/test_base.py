import hashlib
import json
import os
import os.path as osp
import warnings

import pytest
import torch
from file_helpers import write
from torch_geometric.data import InMemoryDataset

from torch_geometric_infodcl.datasets import EDGE_TYPE, InteractionFolder


def folder(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 0\n0 1\n1 1\n')
    write(raw / 'test.txt', '0 2\n1 0\n')
    return str(raw)


def open_quietly(root, raw, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = InteractionFolder(str(root), raw, **kw)
    return ds, [str(w.message) for w in caught]


def test_edit_keeping_size_and_mtime_is_noticed(tmp_path):
    # issue 12, case 6: `cp -p` / `rsync -t` keep size and mtime, and the
    # old processed graph was served.
    raw = folder(tmp_path)
    first, _ = open_quietly(tmp_path / 'root', raw)
    path = osp.join(raw, 'test.txt')
    st = os.stat(path)
    write(path, '0 2\n1 2\n')  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size
    again, _ = open_quietly(tmp_path / 'root', raw)
    assert again.processed_paths[0] != first.processed_paths[0]
    assert again[0][EDGE_TYPE].test_edge_index.t().tolist() == [[0, 2],
                                                                 [1, 2]]


def test_key_lists_content_hashes(tmp_path):
    raw = folder(tmp_path)
    ds, _ = open_quietly(tmp_path / 'root', raw)
    with open(ds.processed_paths[0][:-3] + '.json') as f:
        info = json.load(f)
    with open(osp.join(raw, 'train.txt'), 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert info['files']['train'] == ['train.txt', digest]
    assert info['layout'] == 'text' and info['source'] == 'folder'
    # The same content elsewhere is the same graph:
    other = tmp_path / 'copy'
    write(other / 'train.txt', open(osp.join(raw, 'train.txt')).read())
    write(other / 'test.txt', open(osp.join(raw, 'test.txt')).read())
    copy, _ = open_quietly(tmp_path / 'root', str(other))
    assert copy.processed_paths[0] == ds.processed_paths[0]


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'empty'])
def test_unreadable_cache_is_rebuilt(tmp_path, damage):
    # issue 12, case 10: a kill during the save left a file that failed
    # every later load, without naming it.
    raw = folder(tmp_path)
    ds, _ = open_quietly(tmp_path / 'root', raw)
    path = ds.processed_paths[0]
    data = open(path, 'rb').read()
    new = {'truncate': data[:len(data) // 2], 'garbage': b'\x00' * 100,
           'empty': b''}[damage]
    open(path, 'wb').write(new)
    again, messages = open_quietly(tmp_path / 'root', raw)
    assert any(f"the processed file '{path}' cannot be read" in m and
               'rebuilding it' in m for m in messages)
    assert torch.equal(again[0][EDGE_TYPE].edge_index,
                       ds[0][EDGE_TYPE].edge_index)
    _, messages = open_quietly(tmp_path / 'root', raw)  # repaired
    assert not any('cannot be read' in m for m in messages)


def test_cache_written_atomically(tmp_path, monkeypatch):
    raw = folder(tmp_path)

    def killed_save(cls, data_list, path):
        with open(path, 'wb') as f:
            f.write(b'PK\x03\x04 half a file')
        raise KeyboardInterrupt

    monkeypatch.setattr(InMemoryDataset, 'save', classmethod(killed_save))
    with pytest.raises(KeyboardInterrupt):
        open_quietly(tmp_path / 'root', raw)
    processed = tmp_path / 'root' / 'folder' / 'processed'
    assert not [p for p in os.listdir(processed) if p.startswith('data_')
                or p.endswith('.tmp')]
    monkeypatch.undo()
    ds, messages = open_quietly(tmp_path / 'root', raw)
    assert not any('cannot be read' in m for m in messages)
    assert ds[0][EDGE_TYPE].edge_index.size(1) >= 2


def test_pre_transform_switch_does_not_warn(tmp_path):
    raw = folder(tmp_path)

    def flag(data):
        data['user'].flag = torch.ones(1)
        return data

    _, _ = open_quietly(tmp_path / 'root', raw, pre_transform=flag)
    plain, messages = open_quietly(tmp_path / 'root', raw)
    assert 'flag' not in plain[0]['user']
    assert not any('argument differs' in m for m in messages)
    flagged, messages = open_quietly(tmp_path / 'root', raw,
                                     pre_transform=flag)
    assert 'flag' in flagged[0]['user'] and flagged.pre_transform is flag
    assert not any('argument differs' in m for m in messages)
