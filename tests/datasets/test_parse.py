import numpy as np
import pytest

from torch_geometric_infodcl.datasets.files import DataFileError
from torch_geometric_infodcl.datasets.parse import (
    MAX_ID,
    parse_ids,
    split_fields,
    split_whitespace,
)


def parse(text, **kw):
    data = text.encode('utf-8')
    return parse_ids('f.txt', data, split_whitespace(data), **kw).tolist()


def test_split_whitespace():
    data = b'0 1\t2\r\n\n  3 \x0b4\n5'
    f = split_whitespace(data)
    assert [data[s:e] for s, e in zip(f.start, f.end)] == \
        [b'0', b'1', b'2', b'3', b'4', b'5']
    assert f.line.tolist() == [0, 0, 0, 2, 2, 3]
    assert f.column.tolist() == [0, 1, 2, 0, 1, 0]
    assert f.per_line.tolist() == [3, 0, 2, 1]
    assert not f.ends_with_newline
    assert split_whitespace(b'').per_line.tolist() == [0]
    assert split_whitespace(b'1\n').ends_with_newline


def test_split_fields():
    data = b'1,a b,\r\n\n 4 ,5\r\n'
    f = split_fields(data, b',')
    assert [data[s:e] for s, e in zip(f.start, f.end)] == \
        [b'1', b'a b', b'', b' 4 ', b'5']
    assert f.line.tolist() == [0, 0, 0, 2, 2]
    assert f.per_line.tolist() == [3, 0, 2, 0]
    assert split_fields(b'', b',').per_line.tolist() == [0]
    with pytest.raises(ValueError, match='one byte'):
        split_fields(data, b'::')


def test_ids_match_python():
    rng = np.random.default_rng(0)
    values = rng.integers(0, MAX_ID, size=5000)
    values[:10] = [0, 1, 9, 10, 99, 100, MAX_ID, 7, 0, 12]
    text = '\n'.join(' '.join(map(str, row)) for row in values.reshape(-1, 5))
    assert parse(text) == values.tolist()
    assert parse('0007 00') == [7, 0]  # leading zeros are digits
    assert parse('') == []


@pytest.mark.parametrize('token, why', [
    ('1_0', 'ASCII digits 0-9 only'),  # int() reads 10
    ('\u0663', 'ASCII digits 0-9 only'),  # Arabic-Indic three
    ('\uff11', 'ASCII digits 0-9 only'),  # full-width one
    ('+5', 'ASCII digits 0-9 only'),
    ('5.0', 'ASCII digits 0-9 only'),
    ('1e3', 'ASCII digits 0-9 only'),
    ('0x1f', 'ASCII digits 0-9 only'),
    ('1\u00a02', 'ASCII digits 0-9 only'),  # a no-break space is no blank
    ('1' * 19, 'more than 18 digits'),
])
def test_strict_ids(token, why):
    with pytest.raises(DataFileError) as e:
        parse(f'0 1\n2 {token}\n')
    assert e.value.path == 'f.txt' and e.value.line == 2
    assert f'{token!r} is not an integer id ({why})' in str(e.value)


def test_negative_and_absurd_ids():
    with pytest.raises(DataFileError, match="f.txt', line 1: negative id -3"):
        parse('-3 1\n')
    with pytest.raises(DataFileError, match="line 3: id 1099511627776 is "
                       'larger than 2147483647'):
        parse(f'0 1\n1 2\n5 {2**40}\n')
    assert parse(f'5 {2**40}', max_id=None) == [5, 2**40]
    assert parse(f'{MAX_ID}') == [MAX_ID]


def test_select_and_offsets():
    data = b'7 x 9\n8 y 10\n'
    f = split_whitespace(data)
    assert parse_ids('f', data, f, np.flatnonzero(f.column != 1)).tolist() \
        == [7, 9, 8, 10]
    with pytest.raises(DataFileError, match="'f', line 11: b'x' is not"):
        parse_ids('f', data, f, [1], show_bytes=True, line_offset=10)
    csv = b'1,,3\n'
    with pytest.raises(DataFileError, match='line 1: empty id field'):
        parse_ids('c', csv, split_fields(csv, b','))
