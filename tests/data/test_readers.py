import gzip
import io
import json

import numpy as np
import pytest

from torch_geometric_infodcl.data import readers as R
from torch_geometric_infodcl.data.readers import DataFileError


def write(path, text, gz=False):
    data = text.encode('utf-8') if isinstance(text, str) else text
    if gz:
        with gzip.open(path, 'wb') as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return str(path)


def save_npy(path, arr, gz=False):
    buf = io.BytesIO()
    np.save(buf, arr)
    return write(path, buf.getvalue(), gz=gz)


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


def test_find_file(tmp_path):
    write(tmp_path / 'b.txt.gz', '0 1\n', gz=True)
    assert R.find_file(str(tmp_path), ['a.txt', 'b.txt']).endswith('b.txt.gz')
    assert R.find_file(str(tmp_path), ['a.txt']) is None


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


# MovieLens ##################################################################

RATINGS = ('1::1193::5::978300760\n1::661::3::978302109\n'
           '2::1193::4::978298413\n')


def test_read_movielens_ratings(tmp_path):
    out = R.read_movielens_ratings(write(tmp_path / 'ratings.dat', RATINGS))
    assert out['user'].tolist() == [1, 1, 2]
    assert out['item'].tolist() == [1193, 661, 1193]
    assert out['rating'].tolist() == [5, 3, 4]
    assert out['timestamp'].tolist() == [978300760, 978302109, 978298413]
    with pytest.raises(DataFileError,
                       match="ratings.dat', line 2: expected 4"):
        R.read_movielens_ratings(
            write(tmp_path / 'ratings.dat', '1::2::3::4\n1::2::3\n'))


def test_read_movielens_movies(tmp_path):
    text = ("1::Toy Story (1995)::Animation|Children's|Comedy\n"
            "5::Ch\xe2teau (1990)::Drama\n")
    p = tmp_path / 'movies.dat'
    p.write_bytes(text.encode('ISO-8859-1'))
    ids, titles, genres = R.read_movielens_movies(str(p))
    assert ids.tolist() == [1, 5]
    assert titles[1] == 'Ch\xe2teau (1990)'
    assert genres.shape == (2, 18)
    names = [R.ML1M_GENRES[j] for j in np.flatnonzero(genres[0])]
    assert names == ['Animation', "Children's", 'Comedy']
    assert genres[1].sum() == 1 and genres[1, R.ML1M_GENRES.index('Drama')]
    p.write_bytes(b'1::X (1995)::Comedy\n2::Y::Cooking\n')
    with pytest.raises(DataFileError, match="line 2: unknown genre 'Cooking'"):
        R.read_movielens_movies(str(p))


def test_read_movielens_users(tmp_path):
    p = write(tmp_path / 'users.dat', '1::F::1::10::48067\n2::M::56::16::7\n')
    ids, x = R.read_movielens_users(p)
    assert ids.tolist() == [1, 2] and x.shape == (2, 30)
    assert np.flatnonzero(x[0]).tolist() == [0, 2, 9 + 10]
    assert np.flatnonzero(x[1]).tolist() == [1, 2 + 6, 9 + 16]
    with pytest.raises(DataFileError, match='line 1: unknown age bucket 3'):
        R.read_movielens_users(write(tmp_path / 'u.dat', '1::F::3::1::1\n'))


# Amazon #####################################################################


def review(u, i, r, t, **extra):
    return json.dumps(dict(reviewerID=u, asin=i, overall=r, unixReviewTime=t,
                           reviewText='...', **extra))


def test_read_amazon_reviews(tmp_path):
    lines = [review('A1', 'B0', 5.0, 100), review('A2', 'B0', 3.0, 50),
             "{'reviewerID': 'A1', 'asin': 'B9', 'overall': 4.0, "
             "'unixReviewTime': 70}"]
    p = write(tmp_path / 'reviews_Baby_5.json.gz', '\n'.join(lines) + '\n',
              gz=True)
    out = R.read_amazon_reviews(p)
    assert out['user'].tolist() == ['A1', 'A2', 'A1']
    assert out['item'].tolist() == ['B0', 'B0', 'B9']
    assert out['rating'].tolist() == [5.0, 3.0, 4.0]
    assert out['timestamp'].tolist() == [100, 50, 70]
    bad = write(tmp_path / 'r.json', review('A', 'B', 1, 1) + '\n' +
                json.dumps({'asin': 'B'}) + '\n')
    with pytest.raises(DataFileError,
                       match="line 2: missing key 'reviewerID'"):
        R.read_amazon_reviews(bad)
    bad = write(tmp_path / 'r2.json', review('A', 'B', 1, 1) + '\n{oops\n')
    with pytest.raises(DataFileError, match='line 2: not a JSON object'):
        R.read_amazon_reviews(bad)


def test_read_amazon_ratings_csv(tmp_path):
    p = write(tmp_path / 'ratings_X.csv', 'A1,B1,5.0,100\nA2,B1,1.0,200\n')
    out = R.read_amazon_ratings_csv(p)
    assert out['user'].tolist() == ['A1', 'A2']
    assert out['rating'].tolist() == [5.0, 1.0]
    p = write(tmp_path / 'h.csv', 'user,item,rating,timestamp\nA1,B1,5,9\n')
    assert R.read_amazon_ratings_csv(p)['timestamp'].tolist() == [9]
    with pytest.raises(DataFileError, match='line 2: expected 4'):
        R.read_amazon_ratings_csv(write(tmp_path / 'b.csv', 'A,B,1,2\nA,B\n'))
    with pytest.raises(DataFileError, match='line 2: bad rating'):
        R.read_amazon_ratings_csv(write(tmp_path / 'c.csv',
                                        'A,B,1,2\nA,B,x,3\n'))


# Taobao #####################################################################

TAOBAO = ('1,10,100,pv,1511544070\n1,11,100,buy,1511561733\n'
          '2,10,100,buy,1511585270\n2,12,101,cart,1511595000\n'
          '3,10,100,buy,1400000000\n3,13,102,fav,1511600000\n')


@pytest.mark.parametrize('chunk', [1 << 20, 7])
def test_read_taobao_behavior(tmp_path, chunk):
    p = write(tmp_path / 'UserBehavior.csv', TAOBAO)
    out = R.read_taobao_behavior(p, chunk_bytes=chunk)
    assert out['user'].tolist() == [1, 2, 3]
    assert out['item'].tolist() == [11, 10, 10]
    assert out['category'].tolist() == [100, 100, 100]
    out = R.read_taobao_behavior(p, behaviors=None, chunk_bytes=chunk,
                                 time_window=(1511539200, 1512316799))
    assert out['user'].tolist() == [1, 1, 2, 2, 3]
    assert [R.TAOBAO_BEHAVIORS[b] for b in out['behavior']] == \
        ['pv', 'buy', 'buy', 'cart', 'fav']
    out = R.read_taobao_behavior(p, behaviors=['cart', 'fav'],
                                 chunk_bytes=chunk)
    assert out['item'].tolist() == [12, 13]


def test_read_taobao_errors(tmp_path):
    with pytest.raises(ValueError, match='unknown Taobao behaviour'):
        R.read_taobao_behavior(write(tmp_path / 'a.csv', TAOBAO),
                               behaviors='click')
    with pytest.raises(DataFileError, match='line 2: expected 5'):
        R.read_taobao_behavior(write(tmp_path / 'b.csv',
                                     '1,2,3,buy,4\n1,2,buy,4\n'))
    with pytest.raises(DataFileError, match="line 2: b'x2' is not an integer"):
        R.read_taobao_behavior(write(tmp_path / 'c.csv',
                                     '1,2,3,buy,4\nx2,2,3,buy,4\n'))


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
    # 19-digit ids leave the fast path but still parse:
    p = write(tmp_path / 'long.txt', '0 1000000000000000000\n')
    assert R.read_pairs(p).tolist() == [[0, 10**18]]


def test_count_id_list_string_ids(tmp_path):
    p = write(tmp_path / 'item_list.txt', 'org_id remap_id\nB00ABC 0\n'
              '0553092626 1\n\nB01 2\n')
    assert R.count_id_list(p) == 3
    with pytest.raises(DataFileError, match='remap id'):
        R.count_id_list(write(tmp_path / 'x.txt', 'org remap\nA 0\nB x\n'))
