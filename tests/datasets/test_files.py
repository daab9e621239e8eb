import hashlib
import os.path as osp

import pytest
from file_helpers import write

from torch_geometric_infodcl.datasets import files as F
from torch_geometric_infodcl.datasets import readers as R
from torch_geometric_infodcl.datasets.files import DataFileError


def test_find_file(tmp_path):
    write(tmp_path / 'b.txt.gz', '0 1\n', gz=True)
    assert F.find_file(str(tmp_path), ['a.txt', 'b.txt']).endswith('b.txt.gz')
    assert F.find_file(str(tmp_path), ['a.txt']) is None


def test_truncated_gzip(tmp_path):
    p = write(tmp_path / 'train.txt.gz', '0 1\n' * 1000, gz=True)
    data = open(p, 'rb').read()
    open(p, 'wb').write(data[:len(data) // 2])
    with pytest.raises(DataFileError, match='cannot decompress'):
        R.read_pairs(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        R.read_pairs(str(tmp_path / 'nope.txt'))


# npy / json #################################################################


def test_corrupt_gzip_names_the_file(tmp_path):
    # issue 12: a corrupt gzip stream raised a bare zlib.error.
    p = write(tmp_path / 'train.txt.gz', '0 1\n' * 5000, gz=True)
    data = bytearray(open(p, 'rb').read())
    data[len(data) // 2] ^= 0xFF
    data[len(data) // 2 + 1] ^= 0xFF
    open(p, 'wb').write(bytes(data))
    with pytest.raises(DataFileError) as e:
        R.read_pairs(p)
    assert e.value.path == p and 'cannot decompress' in str(e.value)
    assert p in str(e.value)


def test_atomic_path(tmp_path):
    target = tmp_path / 'out.txt'
    write(target, 'old')
    with pytest.raises(RuntimeError, match='killed'):
        with F.atomic_path(str(target)) as tmp:
            open(tmp, 'w').write('half')
            raise RuntimeError('killed')
    assert target.read_text() == 'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.txt']
    with F.atomic_path(str(target)) as tmp:
        assert tmp != str(target) and osp.dirname(tmp) == str(tmp_path)
        open(tmp, 'w').write('new')
    assert target.read_text() == 'new'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.txt']


def test_content_hash(tmp_path):
    p = write(tmp_path / 'a.txt', 'abc')
    assert F.content_hash(p) == hashlib.sha256(b'abc').hexdigest()
    assert F.content_hash(p, chunk_bytes=1) == F.content_hash(p)
