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
