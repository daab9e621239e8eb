import json
import re

import numpy as np
import pytest
from file_helpers import save_npy, write

from torch_geometric_infodcl.datasets import readers as R
from torch_geometric_infodcl.datasets.files import DataFileError


# Pairs / LightGCN text ######################################################


def test_read_pairs(tmp_path):
    p = write(tmp_path / 'train.txt', '0 3\n0 1\n\n2 0\n')
    out = R.read_pairs(p)
    assert out.dtype == np.int64
    assert out.tolist() == [[0, 3], [0, 1], [2, 0]]
    pg = write(tmp_path / 'train.txt.gz', '0 3\n0 1\n\n2 0\n', gz=True)
    assert np.array_equal(R.read_pairs(pg), out)
    # Tabs, CRLF and a consistent extra column are fine:
    p3 = write(tmp_path / 'r.txt', '0\t3\t5\r\n1\t1\t4\r\n')
    assert R.read_pairs(p3).tolist() == [[0, 3], [1, 1]]
    assert R.read_pairs(write(tmp_path / 'e.txt', '')).shape == (0, 2)


def test_read_pairs_one_based(tmp_path):
    p = write(tmp_path / 'a.txt', '1 1\n3 2\n')
    assert R.read_pairs(p, one_based=True).tolist() == [[0, 0], [2, 1]]
    p = write(tmp_path / 'b.txt', '1 1\n\n3 0\n')
    with pytest.raises(DataFileError, match=r"b\.txt', line 3: id 0"):
        R.read_pairs(p, one_based=True)


@pytest.mark.parametrize('text, line, what', [
    ('0 1\n1 2\n7\n', 3, 'expected at least 2'),
    ('0 1\n1 2 3\n', 2, 'expected 2 fields'),
    ('0 1\n1 x\n', 2, "'x' is not an integer"),
    ('0 1\n\n1 2.5\n', 3, "'2.5' is not an integer"),
    ('0 1\n-1 2\n', 2, 'negative id -1'),
    ('0 1\n1 99999999999999999999999\n', 2, 'is not an integer'),
])
def test_read_pairs_errors(tmp_path, text, line, what):
    p = write(tmp_path / 'pairs.txt', text)
    with pytest.raises(DataFileError) as e:
        R.read_pairs(p)
    assert e.value.path == p and e.value.line == line
    assert f"pairs.txt', line {line}: " in str(e.value)
    assert what in str(e.value)


def test_read_lightgcn(tmp_path):
    text = '0 5 3 9\n1\n2 4\n\n3 1 2\n'
    p = write(tmp_path / 'train.txt', text)
    out = R.read_lightgcn(p)
    assert out.tolist() == [[0, 5], [0, 3], [0, 9], [2, 4], [3, 1], [3, 2]]
    pg = write(tmp_path / 'train.txt.gz', text, gz=True)
    assert np.array_equal(R.read_lightgcn(pg), out)
    one = R.read_lightgcn(write(tmp_path / 'o.txt', '1 5 3\n2\n3 1\n'),
                          one_based=True)
    assert one.tolist() == [[0, 4], [0, 2], [2, 0]]
    with pytest.raises(DataFileError, match='line 2: id 0'):
        R.read_lightgcn(write(tmp_path / 'z.txt', '1 5\n0 1\n'),
                        one_based=True)
    with pytest.raises(DataFileError, match="line 3: 'a' is not an integer"):
        R.read_lightgcn(write(tmp_path / 'bad.txt', '0 1 2\n1 2\n2 3 a 4\n'))
    with pytest.raises(DataFileError, match='line 2: negative id -4'):
        R.read_lightgcn(write(tmp_path / 'neg.txt', '0 1 2\n1 -4\n'))


def test_detect_text_format(tmp_path):
    assert R.detect_text_format(write(tmp_path / 'a', '0 1\n0 2\n')) == \
        'pairs'
    assert R.detect_text_format(write(tmp_path / 'b', '0 1 2\n1 2\n')) == \
        'lightgcn'
    p = write(tmp_path / 'c', '0 1 2\n1 2\n')
    assert R.read_interaction_text(p).tolist() == [[0, 1], [0, 2], [1, 2]]
    with pytest.raises(DataFileError, match='line 2: expected 3 fields as '
                       'on the first line, found 2'):
        R.read_interaction_text(p, 'pairs')
    with pytest.raises(ValueError, match='text_format'):
        R.read_interaction_text(p, 'csv')


def test_read_npy_pairs(tmp_path):
    arr = np.array([[0, 1], [2, 3], [1, 0]], dtype=np.int64)
    assert np.array_equal(R.read_npy_pairs(save_npy(tmp_path / 'a.npy', arr)),
                          arr)
    p = save_npy(tmp_path / 'train_list.npy.gz', arr.astype(np.int32), gz=True)
    out = R.read_npy_pairs(p)
    assert out.dtype == np.int64 and np.array_equal(out, arr)
    assert np.array_equal(R.read_npy_pairs(p, one_based=False), arr)
    with pytest.raises(DataFileError, match=r'shape \[N, 2\], got \[3\]'):
        R.read_npy_pairs(save_npy(tmp_path / 'b.npy', np.arange(3)))
    with pytest.raises(DataFileError, match='integer ids'):
        R.read_npy_pairs(save_npy(tmp_path / 'c.npy', arr + 0.5))
    with pytest.raises(DataFileError, match='row 1.*negative'):
        R.read_npy_pairs(save_npy(tmp_path / 'd.npy', np.array([[0, 1],
                                                               [-1, 2]])))
    with pytest.raises(DataFileError, match='not a readable .npy'):
        R.read_npy_pairs(write(tmp_path / 'e.npy', b'garbage'))


def test_read_json_lists(tmp_path):
    obj = {'0': [3, 1], '2': [0], '1': []}
    p = write(tmp_path / 'train.json', json.dumps(obj))
    assert R.read_json_lists(p).tolist() == [[0, 3], [0, 1], [2, 0]]
    pg = write(tmp_path / 'train.json.gz', json.dumps(obj), gz=True)
    assert R.read_json_lists(pg).tolist() == [[0, 3], [0, 1], [2, 0]]
    for bad, msg in [({'0': [1, 'x']}, "item 'x' is not an integer"),
                     ({'0': [1.5]}, 'item 1.5 is not an integer'),
                     ({'0': [True]}, 'item True is not an integer'),
                     ({'a': [1]}, "user key 'a' is not an integer"),
                     ({'-1': [1]}, "user key '-1' is negative"),
                     ({'0': [-2]}, 'invalid item id -2'),
                     ({'0': 5}, 'expected a list')]:
        with pytest.raises(DataFileError, match=msg):
            R.read_json_lists(write(tmp_path / 'bad.json', json.dumps(bad)))
    with pytest.raises(DataFileError, match=r"x\.json', line 2: invalid JSON"):
        R.read_json_lists(write(tmp_path / 'x.json', '{"0": [1],\n "1": [2,'))


def test_count_id_list(tmp_path):
    p = write(tmp_path / 'user_list.txt', 'org_id remap_id\n343 0\n5258 1\n'
              '77 2\n')
    assert R.count_id_list(p) == 3
    p = write(tmp_path / 'item2id.json', json.dumps({'A': 1, 'B': 0}))
    assert R.count_id_list(p) == 2
    with pytest.raises(DataFileError, match='not exactly 0..1'):
        R.count_id_list(write(tmp_path / 'x.txt', 'org remap\n5 0\n6 2\n'))


def test_read_embedding(tmp_path):
    p = save_npy(tmp_path / 'e.npy', np.ones((4, 3), dtype=np.float64))
    out = R.read_embedding(p)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    with pytest.raises(DataFileError, match='matrix'):
        R.read_embedding(save_npy(tmp_path / 'f.npy', np.ones(4)))


def test_vectorised_parser_matches_python(tmp_path):
    rng = np.random.default_rng(0)
    lines, ref = [], []
    for u in range(300):
        items = rng.integers(0, 10**6, size=rng.integers(0, 12)).tolist()
        sep = [' ', '  ', '\t', ' \t '][u % 4]
        lines.append(sep.join(map(str, [u] + items)) + [' ', '', '\r'][u % 3])
        if u % 50 == 0:
            lines.append('')
        ref += [[u, i] for i in items]
    p = write(tmp_path / 'big.txt', '\n'.join(lines) + '\n')
    assert R.read_lightgcn(p).tolist() == ref
    # An id that would make an absurd embedding table (issue 12: 2**40 ids
    # were accepted and the run died allocating 8 TB) is refused, naming
    # the file and line, before anything is allocated:
    p = write(tmp_path / 'long.txt', '0 1\n0 1099511627776\n')
    with pytest.raises(DataFileError, match=r"long.txt', line 2: id "
                       '1099511627776 is larger than 2147483647'):
        R.read_pairs(p)


def test_count_id_list_string_ids(tmp_path):
    p = write(tmp_path / 'item_list.txt', 'org_id remap_id\nB00ABC 0\n'
              '0553092626 1\n\nB01 2\n')
    assert R.count_id_list(p) == 3
    with pytest.raises(DataFileError, match='remap id'):
        R.count_id_list(write(tmp_path / 'x.txt', 'org remap\nA 0\nB x\n'))


def test_pairs_extra_columns_need_not_be_ids(tmp_path):
    p = write(tmp_path / 'r.txt', '0 3 4.5 2017-11-25\n1 1 -1 x\n')
    assert R.read_pairs(p).tolist() == [[0, 3], [1, 1]]
    with pytest.raises(DataFileError, match="line 2: '1.0' is not an integer"):
        R.read_pairs(write(tmp_path / 's.txt', '0 3 4.5\n1.0 1 2\n'))


def test_unterminated_last_line_warns(tmp_path):
    p = write(tmp_path / 't.txt', '0 1\n1 2')
    with pytest.warns(UserWarning, match=r"t.txt': the last line \(2\) has "
                      'no line end, so the file may be truncated'):
        assert R.read_pairs(p).tolist() == [[0, 1], [1, 2]]
    with pytest.warns(UserWarning, match='may be truncated'):
        R.read_lightgcn(p)


@pytest.mark.parametrize('make, where', [
    (lambda p: write(p / 'a.txt', f'0 1\n1 {2**40} 3\n'), "a.txt', line 2"),
    (lambda p: save_npy(p / 'b.npy', np.array([[0, 1], [2**40, 0]])),
     "b.npy': row 1: invalid user id 1099511627776"),
    (lambda p: save_npy(p / 'u.npy', np.array([[0, 2**63 + 5]],
                                              dtype=np.uint64)),
     "u.npy': row 0: invalid item id 9223372036854775813"),
    (lambda p: write(p / 'c.json', json.dumps({'0': [1], '3': [2**40]})),
     "c.json': user 3: invalid item id 1099511627776"),
    (lambda p: write(p / 'd.json', json.dumps({str(2**40): [1]})),
     "d.json': user 1099511627776: invalid user id"),
])
def test_absurd_ids_refused(tmp_path, make, where):
    # issue 12, case 4: an id of 2**40 was accepted and the run later died
    # allocating 8 TB without naming the file.
    path = make(tmp_path)
    read = {'.txt': R.read_lightgcn, '.npy': R.read_npy_pairs,
            'json': R.read_json_lists}[path[-4:]]
    with pytest.raises(DataFileError, match='larger than 2147483647') as e:
        read(path)
    assert where in str(e.value)


def test_json_keys_strict(tmp_path):
    for key in ['1_0', '\u0663', '\uff11', '+1', '1.0', ' 1']:
        p = write(tmp_path / 'k.json', json.dumps({key: [1]}))
        with pytest.raises(DataFileError, match=re.escape(
                f'user key {key!r} is not an integer id')):
            R.read_json_lists(p)
    with pytest.raises(DataFileError, match="index '3' is not an integer"):
        R.count_id_list(write(tmp_path / 'm.json', json.dumps({'a': '3'})))
    assert R.count_id_list(write(tmp_path / 'n.json',
                                 json.dumps({'a': 0}))) == 1
