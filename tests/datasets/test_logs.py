import json

import numpy as np
import pytest
from file_helpers import write

from torch_geometric_infodcl.datasets import logs as R
from torch_geometric_infodcl.datasets.files import DataFileError


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
