r"""Property-based tests of every reader (hypothesis, derandomized, 200
examples each): random valid interaction sets written in a reader's format
read back exactly; random corruptions (truncation, bad tokens, wrong
separators, id overflow, mixed 0/1-based ids) give the documented error or
warning, never a different graph.  Truncated text is compared with an
independent reference parse of what is left."""
import gzip
import io
import json
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from torch_geometric_infodcl.datasets import logs, readers
from torch_geometric_infodcl.datasets.base import COMMON_OPTIONS, SPLIT_OPTIONS
from torch_geometric_infodcl.datasets.files import DataFileError
from torch_geometric_infodcl.datasets.graph import EDGE_TYPE, split_graph
from torch_geometric_infodcl.datasets.parse import MAX_ID
from torch_geometric_infodcl.datasets.text_format import (
    FormatDetectionError,
    explain_text_format,
)

PROFILE = settings(max_examples=200, derandomize=True, deadline=None,
                   database=None,
                   suppress_health_check=list(HealthCheck))

#: Tokens that are not ids (each read by Python's int() or float() as a
#: number, or by a sloppy parser as an id).
BAD_IDS = ['1_0', '\u0663', '\uff11', '+1', '1.0', '1e3', '0x1f', 'x',
           '1\u00a02', '9' * 19]
#: Tokens that are not ratings (non-negative decimal numbers).
BAD_RATINGS = ['1_0', '\u0663', '\uff11', '+1', '-1', '1e3', 'nan', 'inf',
               '0x1f', 'x', '', '1.2.3', '.']
TRUNCATED = 'may be truncated'


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp('properties')


def put(path, data, gz=False):
    data = data.encode('utf-8') if isinstance(data, str) else data
    if gz:
        data = gzip.compress(data, mtime=0)
    with open(path, 'wb') as f:
        f.write(data)
    return str(path)


def attempt(read, *args, **kwargs):
    r"""``(result, DataFileError or None, warning messages)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            out, error = read(*args, **kwargs), None
        except DataFileError as e:
            out, error = None, e
    return out, error, [str(w.message) for w in caught]


def expect_error(read, path, *args, line=None, match=None, **kwargs):
    out, error, _ = attempt(read, path, *args, **kwargs)
    assert error is not None, f'no error, read {out!r}'
    assert error.path == path
    if line is not None:
        assert error.line == line, str(error)
    if match is not None:
        assert re.search(match, str(error)), str(error)


def is_id(token):
    return re.fullmatch('[0-9]{1,18}', token) is not None and \
        int(token) <= MAX_ID


def check_cut(read, path, text, reference, cut, **kwargs):
    r"""Reads ``text[:cut]``: an error, or :obj:`reference` of the kept
    text (with the truncation warning when the last line is unended)."""
    kept = text[:cut]
    out, error, messages = attempt(read, put(path, kept), **kwargs)
    expected = reference(kept)
    event('cut: error' if expected is None else 'cut: read')
    if error is not None or expected is None:
        assert error is not None and expected is None, (kept, out, error)
        return
    assert equal(out, expected), (kept, out, expected)
    unended = kept and not kept.endswith('\n') and \
        kept.split('\n')[-1].strip()
    assert any(TRUNCATED in m for m in messages) == bool(unended)


def equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(
            np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
    return np.array_equal(np.asarray(a).reshape(-1, 2),
                          np.asarray(b, dtype=np.int64).reshape(-1, 2))


ids = st.integers(0, 60)
pair_lists = st.lists(st.tuples(ids, ids), min_size=1, max_size=25)
blanks = st.sampled_from([' ', '\t', '  ', ' \t '])
line_ends = st.sampled_from(['\n', '\r\n'])
extras = st.sampled_from(['1', '4.5', '978300760', 'x', '-1', '2017-11-25'])


# Pairs ######################################################################


def pairs_text(pairs, data, offset=0):
    width = data.draw(st.integers(0, 2), 'extra columns')
    sep, end = data.draw(blanks, 'blank'), data.draw(line_ends, 'line end')
    lines = []
    for u, i in pairs:
        more = [data.draw(extras) for _ in range(width)]
        lines.append(sep.join([str(u + offset), str(i + offset)] + more))
    return end.join(lines) + end


def pairs_reference(text):
    rows = [ln.split() for ln in text.split('\n') if ln.split()]
    if any(len(r) < 2 or len(r) != len(rows[0]) or not is_id(r[0])
           or not is_id(r[1]) for r in rows):
        return None
    return [(int(r[0]), int(r[1])) for r in rows]


@PROFILE
@given(pairs=pair_lists, one_based=st.booleans(), gz=st.booleans(),
       data=st.data())
def test_pairs_read_back(folder, pairs, one_based, gz, data):
    text = pairs_text(pairs, data, int(one_based))
    if data.draw(st.booleans(), 'blank line'):
        text = '\n' + text.replace('\n', '\n\n', 1)
    path = put(folder / ('p.txt.gz' if gz else 'p.txt'), text, gz)
    out, error, messages = attempt(readers.read_pairs, path, one_based)
    assert error is None and not messages
    assert out.tolist() == [list(p) for p in pairs]


@PROFILE
@given(pairs=pair_lists, kind=st.sampled_from(
    ['token', 'separator', 'overflow', 'truncate', 'mixed']), data=st.data())
def test_pairs_corrupted(folder, pairs, kind, data):
    one_based = kind == 'mixed'
    text = pairs_text(pairs, data, int(one_based))
    lines = text.split('\n')
    row = data.draw(st.integers(0, len(pairs) - 1), 'row')
    col = data.draw(st.integers(0, 1), 'column')
    tokens = lines[row].split()
    path = str(folder / 'p.txt')
    if kind == 'truncate':
        cut = data.draw(st.integers(0, len(text) - 1), 'cut')
        return check_cut(readers.read_pairs, path, text, pairs_reference,
                         cut)
    if kind == 'separator':
        sep = data.draw(st.sampled_from([',', ';', '|', '::']))
        lines[row] = re.sub(r'^(\S+)\s+(\S+)', rf'\1{sep}\2', lines[row])
        return expect_error(readers.read_pairs, put(folder / 'p.txt',
                                                    '\n'.join(lines)))
    tokens[col] = {'token': data.draw(st.sampled_from(BAD_IDS)),
                   'overflow': str(data.draw(st.integers(MAX_ID + 1,
                                                         10**18 - 1))),
                   'mixed': '0'}[kind]
    lines[row] = ' '.join(tokens)
    expect_error(readers.read_pairs, put(folder / 'p.txt', '\n'.join(lines)),
                 one_based, line=row + 1, match={
                     'token': 'is not an integer id',
                     'overflow': 'larger than|more than 18',
                     'mixed': 'id 0 in a file read as 1-based'}[kind])


# LightGCN ###################################################################

user_items = st.lists(st.lists(ids, max_size=8, unique=True), min_size=1,
                      max_size=12)


def lightgcn_text(lists, data, offset=0):
    sep, end = data.draw(blanks, 'blank'), data.draw(line_ends, 'line end')
    return end.join(sep.join(str(v + offset) for v in [u] + items)
                    for u, items in enumerate(lists)) + end


def lightgcn_pairs(lists):
    return [(u, i) for u, items in enumerate(lists) for i in items]


def lightgcn_reference(text):
    rows = [ln.split() for ln in text.split('\n') if ln.split()]
    if not all(is_id(t) for r in rows for t in r):
        return None
    return [(int(r[0]), int(t)) for r in rows for t in r[1:]]


@PROFILE
@given(lists=user_items, one_based=st.booleans(), gz=st.booleans(),
       data=st.data())
def test_lightgcn_read_back(folder, lists, one_based, gz, data):
    text = lightgcn_text(lists, data, int(one_based))
    path = put(folder / ('l.txt.gz' if gz else 'l.txt'), text, gz)
    out, error, messages = attempt(readers.read_lightgcn, path, one_based)
    assert error is None and not messages
    assert out.tolist() == [list(p) for p in lightgcn_pairs(lists)]


@PROFILE
@given(lists=user_items, kind=st.sampled_from(
    ['token', 'separator', 'overflow', 'truncate', 'mixed']), data=st.data())
def test_lightgcn_corrupted(folder, lists, kind, data):
    one_based = kind == 'mixed'
    text = lightgcn_text(lists, data, int(one_based))
    path = str(folder / 'l.txt')
    if kind == 'truncate':
        cut = data.draw(st.integers(0, len(text) - 1), 'cut')
        return check_cut(readers.read_lightgcn, path, text,
                         lightgcn_reference, cut)
    lines = text.split('\n')
    row = data.draw(st.integers(0, len(lists) - 1), 'row')
    tokens = lines[row].split()
    col = data.draw(st.integers(0, len(tokens) - 1), 'column')
    if kind == 'separator':
        if len(tokens) < 2:
            tokens.append('1')
        sep = data.draw(st.sampled_from([',', ';', '|']))
        at = min(col, len(tokens) - 2)
        tokens[at:at + 2] = [tokens[at] + sep + tokens[at + 1]]
    else:
        tokens[col] = {'token': data.draw(st.sampled_from(BAD_IDS)),
                       'overflow': str(data.draw(
                           st.integers(MAX_ID + 1, 10**18 - 1))),
                       'mixed': '0'}[kind]
    lines[row] = ' '.join(tokens)
    expect_error(readers.read_lightgcn,
                 put(folder / 'l.txt', '\n'.join(lines)), one_based,
                 line=row + 1)


# DiffRec .npy ###############################################################

int_dtypes = st.sampled_from(['int64', 'int32', 'int16', 'uint16', 'uint32',
                              'float64', 'float32'])


def npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@PROFILE
@given(pairs=st.lists(st.tuples(ids, ids), max_size=25), dtype=int_dtypes,
       extra=st.integers(0, 2), one_based=st.booleans(), gz=st.booleans())
def test_npy_read_back(folder, pairs, dtype, extra, one_based, gz):
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2) + int(one_based)
    arr = np.concatenate([arr, np.full((arr.shape[0], extra), 7)], axis=1)
    path = put(folder / ('a.npy.gz' if gz else 'a.npy'),
               npy_bytes(arr.astype(dtype)), gz)
    out, error, _ = attempt(readers.read_npy_pairs, path, one_based)
    assert error is None and out.dtype == np.int64
    assert out.tolist() == [list(p) for p in pairs]


@PROFILE
@given(pairs=pair_lists, kind=st.sampled_from(
    ['truncate', 'negative', 'overflow', 'fraction', 'mixed', 'shape']),
       data=st.data())
def test_npy_corrupted(folder, pairs, kind, data):
    arr = np.array(pairs, dtype=np.int64)
    row = data.draw(st.integers(0, len(pairs) - 1), 'row')
    col = data.draw(st.integers(0, 1), 'column')
    if kind == 'truncate':
        raw = npy_bytes(arr)
        cut = data.draw(st.integers(0, len(raw) - 1), 'cut')
        return expect_error(readers.read_npy_pairs,
                            put(folder / 'a.npy', raw[:cut]),
                            match='not a readable .npy')
    if kind == 'shape':
        return expect_error(readers.read_npy_pairs,
                            put(folder / 'a.npy', npy_bytes(arr[:, 0])),
                            match=r'shape \[N, 2\]')
    if kind == 'fraction':
        arr = arr.astype(np.float64)
        arr[row, col] += data.draw(st.sampled_from([0.5, np.nan, np.inf]))
        return expect_error(readers.read_npy_pairs,
                            put(folder / 'a.npy', npy_bytes(arr)),
                            match='expected integer ids')
    arr = arr + int(kind == 'mixed')
    arr[row, col] = {'negative': -data.draw(st.integers(1, 10**6)),
                     'overflow': data.draw(st.integers(MAX_ID + 1, 2**62)),
                     'mixed': 0}[kind]
    expect_error(readers.read_npy_pairs, put(folder / 'a.npy',
                                             npy_bytes(arr)),
                 kind == 'mixed', match=f'row {row}: invalid')


# JSON lists #################################################################

json_lists = st.dictionaries(st.integers(0, 60).map(str),
                             st.lists(ids, max_size=6), min_size=1,
                             max_size=10)


def json_pairs(obj, offset=0):
    return [(int(u) - offset, i - offset) for u, items in obj.items()
            for i in items]


@PROFILE
@given(obj=json_lists, one_based=st.booleans(), gz=st.booleans(),
       indent=st.sampled_from([None, 1]))
def test_json_read_back(folder, obj, one_based, gz, indent):
    shifted = {str(int(u) + one_based): [i + one_based for i in items]
               for u, items in obj.items()}
    path = put(folder / ('j.json.gz' if gz else 'j.json'),
               json.dumps(shifted, indent=indent), gz)
    out, error, _ = attempt(readers.read_json_lists, path, one_based)
    assert error is None
    assert out.tolist() == [list(p) for p in json_pairs(obj)]


@PROFILE
@given(obj=json_lists.filter(lambda o: any(o.values())),
       kind=st.sampled_from(['truncate', 'item', 'key', 'overflow', 'mixed']),
       data=st.data())
def test_json_corrupted(folder, obj, kind, data):
    text = json.dumps(obj)
    if kind == 'truncate':
        cut = data.draw(st.integers(0, len(text) - 1), 'cut')
        return expect_error(readers.read_json_lists,
                            put(folder / 'j.json', text[:cut]),
                            match='invalid JSON')
    if kind == 'mixed':  # a 1-based file with one id 0
        obj = {str(int(u) + 1): [i + 1 for i in v] for u, v in obj.items()}
    users = [u for u, items in obj.items() if items]
    user = data.draw(st.sampled_from(users), 'user')
    if kind == 'key':
        bad = data.draw(st.sampled_from(BAD_IDS + ['-1', ' 1', '']))
        obj = {(bad if u == user else u): v for u, v in obj.items()}
        return expect_error(readers.read_json_lists,
                            put(folder / 'j.json', json.dumps(obj)),
                            match='user key')
    k = data.draw(st.integers(0, len(obj[user]) - 1), 'item')
    items = list(obj[user])
    items[k] = {'item': data.draw(st.sampled_from(
        ['3', 1.5, True, None, -1, [1]])),
                'overflow': data.draw(st.integers(MAX_ID + 1, 2**70)),
                'mixed': 0}[kind]
    obj[user] = items
    expect_error(readers.read_json_lists,
                 put(folder / 'j.json', json.dumps(obj)), kind == 'mixed',
                 match='item')


# Id maps ####################################################################


def id_map_reference(text):
    rows = [ln.split() for ln in text.split('\n') if ln.split()]
    if rows and not rows[0][-1].isascii() or rows and not \
            rows[0][-1].isdigit():
        rows = rows[1:]
    if not all(is_id(r[-1]) for r in rows):
        return None
    ids = sorted(int(r[-1]) for r in rows)
    return len(ids) if ids == list(range(len(ids))) else None


@PROFILE
@given(n=st.integers(0, 30), kind=st.sampled_from(
    ['valid', 'token', 'gap', 'truncate']), data=st.data())
def test_id_map(folder, n, kind, data):
    order = data.draw(st.permutations(range(n)), 'order')
    names = data.draw(st.lists(st.text('ABC0123', min_size=1, max_size=5),
                               min_size=n, max_size=n), 'original ids')
    lines = ['org_id remap_id'] + [f'{o} {r}' for o, r in zip(names, order)]
    text = '\n'.join(lines) + '\n'
    if kind == 'valid' or n == 0:
        out, error, _ = attempt(readers.count_id_list, put(folder /
                                                           'item_list.txt',
                                                           text))
        assert error is None and out == n
        return
    row = data.draw(st.integers(1, n), 'row')
    if kind == 'truncate':
        cut = data.draw(st.integers(0, len(text) - 1), 'cut')
        out, error, _ = attempt(readers.count_id_list,
                                put(folder / 'item_list.txt', text[:cut]))
        expected = id_map_reference(text[:cut])
        assert (error is None and out == expected) or \
            (error is not None and expected is None)
        return
    remap = data.draw(st.sampled_from(BAD_IDS)) if kind == 'token' else \
        str(n + data.draw(st.integers(0, 5)))
    lines[row] = f'{names[row - 1]} {remap}'
    expect_error(readers.count_id_list,
                 put(folder / 'item_list.txt', '\n'.join(lines) + '\n'),
                 match='remap id|not exactly')


# MovieLens ratings ##########################################################

ratings = st.lists(st.tuples(st.integers(1, 6040), st.integers(1, 3952),
                             st.integers(1, 5),
                             st.integers(0, 2**31)), min_size=1,
                   max_size=20)


def ratings_text(rows, end='\n'):
    return end.join('::'.join(map(str, r)) for r in rows) + end


def ratings_reference(text):
    rows = [ln.rstrip('\r').split('::') for ln in text.split('\n')
            if ln.strip()]
    if any(len(r) != 4 or not all(re.fullmatch('[0-9]{1,18}', t)
                                  for t in r) for r in rows):
        return None
    cols = np.array([[int(t) for t in r] for r in rows],
                    dtype=np.int64).reshape(-1, 4)
    return dict(zip(['user', 'item', 'rating', 'timestamp'], cols.T))


@PROFILE
@given(rows=ratings, kind=st.sampled_from(
    ['valid', 'token', 'separator', 'overflow', 'truncate']),
       data=st.data())
def test_movielens_ratings(folder, rows, kind, data):
    text = ratings_text(rows, data.draw(line_ends, 'line end'))
    path = str(folder / 'ratings.dat')
    if kind == 'valid':
        out, error, messages = attempt(logs.read_movielens_ratings,
                                       put(folder / 'ratings.dat', text))
        assert error is None and not messages
        assert equal(out, ratings_reference(text))
        return
    if kind == 'truncate':
        cut = data.draw(st.integers(0, len(text) - 1), 'cut')
        return check_cut(logs.read_movielens_ratings, path, text,
                         ratings_reference, cut)
    lines = text.split('\n')
    row = data.draw(st.integers(0, len(rows) - 1), 'row')
    fields = lines[row].rstrip('\r').split('::')
    col = data.draw(st.integers(0, 3), 'column')
    if kind == 'separator':
        sep = data.draw(st.sampled_from([':', ',', '\t', '; ']))
        at = min(col, 2)
        fields[at:at + 2] = [fields[at] + sep + fields[at + 1]]
    else:
        fields[col] = data.draw(st.sampled_from(BAD_IDS)) \
            if kind == 'token' else '9' * data.draw(st.integers(19, 30))
    lines[row] = '::'.join(fields)
    expect_error(logs.read_movielens_ratings,
                 put(folder / 'ratings.dat', '\n'.join(lines)),
                 line=row + 1)


# Amazon #####################################################################

amazon_ids = st.text('ABCXYZ0123456789', min_size=1, max_size=8)
reviews = st.lists(st.tuples(amazon_ids, amazon_ids,
                             st.sampled_from([1.0, 2.0, 3.5, 4.0, 5]),
                             st.integers(0, 2**40)), min_size=1,
                   max_size=15)


def review_line(u, i, r, t, **over):
    obj = dict(reviewerID=u, asin=i, overall=r, unixReviewTime=t,
               summary='ok')
    obj.update(over)
    return json.dumps(obj)


def reviews_reference(text):
    rows = []
    for ln in text.split('\n'):
        if not ln.strip():
            continue
        try:
            obj = json.loads(ln)
        except json.JSONDecodeError:
            return None
        rows.append((obj['reviewerID'], obj['asin'], float(obj['overall']),
                     obj['unixReviewTime']))
    return rows


def as_rows(out):
    return list(zip(out['user'].tolist(), out['item'].tolist(),
                    out['rating'].tolist(), out['timestamp'].tolist()))


@PROFILE
@given(rows=reviews, kind=st.sampled_from(
    ['valid', 'value', 'truncate']), data=st.data())
def test_amazon_reviews(folder, rows, kind, data):
    text = '\n'.join(review_line(*r) for r in rows) + '\n'
    if kind == 'valid':
        gz = data.draw(st.booleans(), 'gz')
        name = 'reviews_Baby_5.json' + ('.gz' if gz else '')
        out, error, _ = attempt(logs.read_amazon_reviews,
                                put(folder / name, text, gz))
        assert error is None and as_rows(out) == reviews_reference(text)
        return
    if kind == 'truncate':
        cut = data.draw(st.integers(0, len(text) - 1), 'cut')
        out, error, _ = attempt(logs.read_amazon_reviews,
                                put(folder / 'reviews_Baby_5.json',
                                    text[:cut]))
        expected = reviews_reference(text[:cut])
        assert (error is None and as_rows(out) == expected) or \
            (error is not None and expected is None)
        return
    row = data.draw(st.integers(0, len(rows) - 1), 'row')
    key, value = data.draw(st.sampled_from([
        ('overall', '5'), ('overall', True), ('overall', -1.0),
        ('unixReviewTime', '1_0'), ('unixReviewTime', 1.5),
        ('unixReviewTime', False), ('reviewerID', 12), ('asin', None),
        ('asin', '')]))
    lines = text.split('\n')
    lines[row] = review_line(*rows[row], **{key: value})
    expect_error(logs.read_amazon_reviews,
                 put(folder / 'reviews_Baby_5.json', '\n'.join(lines)),
                 line=row + 1)


csv_rows = st.lists(st.tuples(amazon_ids, amazon_ids,
                              st.sampled_from(['1', '2.0', '3.5', '5.0']),
                              st.integers(0, 2**40)), min_size=1,
                    max_size=15)


def csv_reference(text):
    rows = [ln.rstrip('\r').split(',') for ln in text.split('\n')
            if ln.strip()]
    if rows and len(rows[0]) == 4 and not re.search('[0-9]', rows[0][2]) \
            and not re.search('[0-9]', rows[0][3]):
        rows = rows[1:]
    if any(len(r) != 4 or not re.fullmatch(r'[0-9]*\.?[0-9]*', r[2])
           or not re.search('[0-9]', r[2])
           or not re.fullmatch('[0-9]{1,18}', r[3]) for r in rows):
        return None
    return [(r[0], r[1], float(r[2]), int(r[3])) for r in rows]


@PROFILE
@given(rows=csv_rows, header=st.booleans(), kind=st.sampled_from(
    ['valid', 'rating', 'timestamp', 'separator', 'truncate']),
       data=st.data())
def test_amazon_ratings_csv(folder, rows, header, kind, data):
    lines = (['user,item,rating,timestamp'] if header else []) + \
        [','.join(map(str, r)) for r in rows]
    text = '\n'.join(lines) + '\n'
    if kind == 'valid':
        out, error, messages = attempt(logs.read_amazon_ratings_csv,
                                       put(folder / 'ratings_Baby.csv', text))
        assert error is None and not messages
        assert as_rows(out) == csv_reference(text)
        assert as_rows(out) == [(u, i, float(r), t) for u, i, r, t in rows]
        return
    if kind == 'truncate':
        cut = data.draw(st.integers(0, len(text) - 1), 'cut')
        out, error, messages = attempt(logs.read_amazon_ratings_csv,
                                       put(folder / 'ratings_Baby.csv',
                                           text[:cut]))
        expected = csv_reference(text[:cut])
        assert (error is None and as_rows(out) == expected) or \
            (error is not None and expected is None), text[:cut]
        return
    row = data.draw(st.integers(0, len(rows) - 1), 'row')
    u, i, r, t = rows[row]
    bad = data.draw(st.sampled_from(BAD_IDS + ['-1', 'nan', '']))
    bad_rating = data.draw(st.sampled_from(BAD_RATINGS))
    sep = data.draw(st.sampled_from([';', '\t', '|']))
    lines[row + header] = {
        'rating': f'{u},{i},{bad_rating},{t}',
        'timestamp': f'{u},{i},{r},{bad}',
        'separator': f'{u}{sep}{i},{r},{t}'}[kind]
    expect_error(logs.read_amazon_ratings_csv,
                 put(folder / 'ratings_Baby.csv', '\n'.join(lines) + '\n'),
                 line=row + header + 1)


# Taobao #####################################################################

behaviours = st.lists(st.tuples(ids, ids, ids,
                                st.sampled_from(logs.TAOBAO_BEHAVIORS),
                                st.integers(0, 2**31)), min_size=1,
                      max_size=20)


def taobao_reference(text):
    rows = [ln.rstrip('\r').split(',') for ln in text.split('\n')
            if ln.strip()]
    if any(len(r) != 5 or r[3] not in logs.TAOBAO_BEHAVIORS
           or not all(re.fullmatch('[0-9]{1,18}', r[c]) for c in (0, 1, 2, 4))
           for r in rows):
        return None
    out = {'user': [], 'item': [], 'category': [], 'behavior': [],
           'timestamp': []}
    for r in rows:
        for key, value in zip(out, (int(r[0]), int(r[1]), int(r[2]),
                                    logs.TAOBAO_BEHAVIORS.index(r[3]),
                                    int(r[4]))):
            out[key].append(value)
    return {k: np.array(v, dtype=np.int64) for k, v in out.items()}


@PROFILE
@given(rows=behaviours, chunk=st.integers(4, 80), kind=st.sampled_from(
    ['valid', 'token', 'behaviour', 'separator', 'truncate']),
       data=st.data())
def test_taobao(folder, rows, chunk, kind, data):
    lines = [','.join(map(str, r)) for r in rows]
    text = '\n'.join(lines) + '\n'
    path = str(folder / 'UserBehavior.csv')

    def read(p):
        return logs.read_taobao_behavior(p, behaviors=None,
                                         chunk_bytes=chunk)

    if kind == 'valid':
        out, error, messages = attempt(read, put(folder / 'UserBehavior.csv',
                                                 text))
        assert error is None and not messages
        assert equal(out, taobao_reference(text))
        return
    if kind == 'truncate':
        cut = data.draw(st.integers(0, len(text) - 1), 'cut')
        return check_cut(read, path, text, taobao_reference, cut)
    row = data.draw(st.integers(0, len(rows) - 1), 'row')
    fields = lines[row].split(',')
    if kind == 'token':
        fields[data.draw(st.sampled_from([0, 1, 2, 4]))] = data.draw(
            st.sampled_from(BAD_IDS + ['-3', '']))
    elif kind == 'behaviour':
        fields[3] = data.draw(st.sampled_from(['click', 'Buy', 'pv ', '']))
    else:
        at = data.draw(st.integers(0, 3))
        fields[at:at + 2] = [fields[at] + data.draw(
            st.sampled_from([';', ' ', '\t'])) + fields[at + 1]]
    lines[row] = ','.join(fields)
    expect_error(read, put(folder / 'UserBehavior.csv',
                           '\n'.join(lines) + '\n'), line=row + 1)


# A folder's text format #####################################################


@PROFILE
@given(splits=st.lists(pair_lists, min_size=2, max_size=3),
       width=st.integers(0, 2), lightgcn=st.booleans(), data=st.data())
def test_folder_format_never_misreads(folder, splits, width, lightgcn, data):
    r"""Auto-detection reads a folder as written, or refuses it; the one
    documented exception is a LightGCN folder whose lines all hold the same
    number of fields with one column constant (read as pairs)."""
    paths, written = [], []
    for k, pairs in enumerate(splits):
        if lightgcn:
            lists = data.draw(user_items, f'split {k}')
            text = lightgcn_text(lists, data)
            written.append(lightgcn_pairs(lists))
        else:
            text = pairs_text(pairs, data) if width else \
                '\n'.join(f'{u} {i}' for u, i in pairs) + '\n'
            written.append(pairs)
        paths.append(put(folder / f'split{k}.txt', text))
    try:
        chosen = explain_text_format(paths)
    except FormatDetectionError as e:
        assert "format='pairs' or format='lightgcn'" in str(e)
        event('refused')
        return
    got = [readers.read_interaction_text(p, chosen.format).tolist()
           for p in paths]
    if got == [[list(p) for p in w] for w in written]:
        event(f'read as written ({chosen.format})')
    else:
        event('documented limit')
        rows = [ln.split() for p in paths for ln in open(p).read().split('\n')
                if ln.split()]
        widths = {len(r) for r in rows}
        assert lightgcn and chosen.format == 'pairs' and len(widths) == 1
        assert 'holds' in chosen.reason and 'on all' in chosen.reason


# Mixed 0/1-based ids in a split folder ######################################


@PROFILE
@given(splits=st.lists(pair_lists, min_size=3, max_size=3))
def test_one_based_splits_warn(splits):
    r"""Ids that start at 1 read as 0-based always warn (a phantom user 0
    and item 0); read as 1-based they give the graph without them."""
    arrays = {name: np.array(p, dtype=np.int64) + 1
              for name, p in zip(('train', 'val', 'test'), splits)}
    options = {**COMMON_OPTIONS, **SPLIT_OPTIONS}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        data = split_graph(dict(arrays), options, 'src')
    assert any('no user and no item has id 0' in str(w.message)
               for w in caught)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        shifted = split_graph({k: v - 1 for k, v in arrays.items()},
                              {**options, 'one_based': True}, 'src')
    assert not any('1-based' in str(w.message) for w in caught)
    assert data['user'].num_nodes == shifted['user'].num_nodes + 1
    assert data['item'].num_nodes == shifted['item'].num_nodes + 1
    for attr in ('edge_index', 'val_edge_index', 'test_edge_index'):
        assert np.array_equal(data[EDGE_TYPE][attr].numpy(),
                              shifted[EDGE_TYPE][attr].numpy() + 1)
