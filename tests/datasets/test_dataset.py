import gzip
import io
import json
import os
import os.path as osp
import time
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

import torch_geometric_infodcl.datasets.base as D
from torch_geometric_infodcl.datasets import (
    DATASET_NAMES,
    EDGE_TYPE,
    DatasetDownloadError,
    InteractionDataset,
    Office,
    RecommenderDataset,
    load_dataset,
)
from torch_geometric_infodcl.datasets.files import DataFileError
from torch_geometric_infodcl.datasets.logs import ML1M_GENRES


def write(path, text, gz=False):
    path = str(path)
    os.makedirs(osp.dirname(path), exist_ok=True)
    data = text.encode('ISO-8859-1') if isinstance(text, str) else text
    with (gzip.open(path, 'wb') if gz else open(path, 'wb')) as f:
        f.write(data)
    return path


def save_npy(path, arr, gz=False):
    buf = io.BytesIO()
    np.save(buf, arr)
    return write(path, buf.getvalue(), gz=gz)


def edges(data, name='edge_index'):
    return data[EDGE_TYPE][name]


def as_list(ei):
    return ei.t().tolist()


def check_graph(data, num_users, num_items, sizes=None):
    assert isinstance(data, HeteroData)
    assert data['user'].num_nodes == num_users
    assert data['item'].num_nodes == num_items
    keys = []
    for name in ('edge_index', 'val_edge_index', 'test_edge_index'):
        ei = edges(data, name)
        assert ei.dtype == torch.long and ei.dim() == 2 and ei.size(0) == 2
        if ei.numel():
            assert 0 <= int(ei[0].min()) and int(ei[0].max()) < num_users
            assert 0 <= int(ei[1].min()) and int(ei[1].max()) < num_items
        key = ei[0] * num_items + ei[1]
        assert (key[1:] > key[:-1]).all()  # sorted by (user, item), unique
        keys.append(key)
    if sizes is not None:
        assert [k.numel() for k in keys] == list(sizes)


# Real data (../shared/data) #################################################


def test_office(tmp_path, office_dir):
    ds = RecommenderDataset(str(tmp_path), 'office', raw_dir=office_dir)
    data = ds[0]
    check_graph(data, 4905, 2420, (40877, 5880, 6501))
    assert data['user'].pretrained_emb.shape == (4905, 64)
    assert data['item'].pretrained_emb.shape == (2420, 64)
    train = np.loadtxt(osp.join(office_dir, 'train.txt'), dtype=np.int64)
    order = np.lexsort((train[:, 1], train[:, 0]))
    assert np.array_equal(edges(data).t().numpy(), train[order])
    assert 'users=4905' in repr(ds)
    # The processed file is cached under root/office/processed:
    files = os.listdir(osp.join(tmp_path, 'office', 'processed'))
    assert any(f.startswith('data_') and f.endswith('.pt') for f in files)


def test_gowalla(tmp_path, gowalla_dir):
    data = load_dataset('gowalla', str(tmp_path / 'a'), raw_dir=gowalla_dir)
    check_graph(data, 29858, 40981)
    n_train, n_val = edges(data).size(1), edges(data, 'val_edge_index').size(1)
    assert n_train + n_val == 810128
    assert edges(data, 'test_edge_index').size(1) == 217242
    assert 0.08 * 810128 < n_val < 0.12 * 810128
    # The carved validation set is deterministic (fresh root, same seed) and
    # depends on the seed:
    again = load_dataset('gowalla', str(tmp_path / 'b'), raw_dir=gowalla_dir)
    assert torch.equal(edges(again, 'val_edge_index'),
                       edges(data, 'val_edge_index'))
    other = load_dataset('gowalla', str(tmp_path / 'b'), raw_dir=gowalla_dir,
                         seed=1)
    assert not torch.equal(edges(other, 'val_edge_index'),
                           edges(data, 'val_edge_index'))


def test_baby(tmp_path, baby_dir):
    data = load_dataset('baby', str(tmp_path), raw_dir=baby_dir)
    check_graph(data, 19445, 7050, (119674, 20559, 20559))


def test_ml1m_full(tmp_path, ml1m_dir):
    data = load_dataset('ml-1m', str(tmp_path), raw_dir=ml1m_dir)
    check_graph(data, 6040, 3883)
    n_train, n_val = edges(data).size(1), edges(data, 'val_edge_index').size(1)
    assert n_train + n_val == 794784
    assert edges(data, 'test_edge_index').size(1) == 205425
    x = data['item'].x
    assert x.shape == (3883, 18)
    with open(osp.join(ml1m_dir, 'raw', 'movies.dat'),
              encoding='ISO-8859-1') as f:
        rows = [line.rstrip('\n').split('::') for line in f]
    row = [r[1] for r in rows].index('Toy Story (1995)')
    assert row == 0
    assert [ML1M_GENRES[j] for j in x[row].nonzero().view(-1).tolist()] == \
        ['Animation', "Children's", 'Comedy']
    # Item id = ROW of movies.dat, not MovieID - 1: American Beauty
    # (MovieID 2858) is the most interacted movie.
    deg = torch.bincount(torch.cat([edges(data)[1],
                                    edges(data, 'val_edge_index')[1],
                                    edges(data, 'test_edge_index')[1]]),
                         minlength=3883)
    top = int(deg.argmax())
    assert rows[top][1] == 'American Beauty (1999)' and int(deg[top]) == 3428
    assert x.sum(1).min() >= 1  # every movie has a genre
    u = data['user'].x
    assert u.shape == (6040, 30)
    assert torch.equal(u.sum(1), torch.full((6040, ), 3.0))
    assert int(u[:, 0].sum()) == 1709 and int(u[:, 1].sum()) == 4331  # F/M


def test_ml1m_diffrec(tmp_path, ml1m_dir):
    data = load_dataset('ml-1m-diffrec', str(tmp_path), raw_dir=ml1m_dir)
    check_graph(data, 5949, 2810, (403277, 110722, 57532))
    assert data['item'].pretrained_emb.shape == (2810, 64)


def test_folder_autodetect_real(tmp_path, office_dir, baby_dir, ml1m_dir):
    data = load_dataset(office_dir, str(tmp_path))
    check_graph(data, 4905, 2420, (40877, 5880, 6501))
    data = load_dataset('folder', str(tmp_path), raw_dir=baby_dir)
    check_graph(data, 19445, 7050, (119674, 20559, 20559))
    # The ml-1m folder holds two split layouts in sub-folders: ambiguous.
    with pytest.raises(ValueError, match='several datasets.*diffrec_clean.*'
                       'full_mulsetrank'):
        load_dataset(ml1m_dir, str(tmp_path))
    data = load_dataset(osp.join(ml1m_dir, 'diffrec_clean'), str(tmp_path))
    check_graph(data, 5949, 2810, (403277, 110722, 57532))


def test_feature_rows_must_match(tmp_path, ml1m_dir):
    with pytest.raises(ValueError, match=r'item x .*movies.dat.* shape '
                       r'\[3883, 18\], but there are 4000 items'):
        load_dataset('ml-1m', str(tmp_path), raw_dir=ml1m_dir, num_items=4000)


# Synthetic #################################################################


def test_synthetic(tmp_path):
    ds = RecommenderDataset(str(tmp_path), 'synthetic', num_users=300,
                            num_items=200, avg_degree=10)
    check_graph(ds[0], 300, 200)
    assert ds[0]['item'].x.shape == (200, 32)
    assert osp.isdir(osp.join(tmp_path, 'synthetic', 'processed'))
    with pytest.raises(TypeError, match="unknown option.*'num_user'.*valid "
                       'options.*num_users'):
        RecommenderDataset(str(tmp_path), 'synthetic', num_user=3)


# Caching ###################################################################


def test_cache_key_and_reuse(tmp_path, monkeypatch):
    root = str(tmp_path / 'root')
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 0\n0 1\n1 1\n1 2\n2 0\n2 2\n')
    write(raw / 'test.txt', '0 2\n1 0\n2 1\n')
    ds = RecommenderDataset(root, 'folder', raw_dir=str(raw))
    first = ds.processed_paths[0]
    assert first.startswith(osp.join(root, 'folder', 'processed', 'data_'))
    assert osp.isfile(first.replace('.pt', '.json'))

    calls = []
    orig = InteractionDataset.process
    monkeypatch.setattr(InteractionDataset, 'process',
                        lambda self: calls.append(1) or orig(self))
    same = RecommenderDataset(root, 'folder', raw_dir=str(raw), seed=0)
    assert same.processed_paths[0] == first and calls == []
    seeded = RecommenderDataset(root, 'folder', raw_dir=str(raw), seed=5)
    assert seeded.processed_paths[0] != first and calls == [1]
    other = RecommenderDataset(root, 'folder', raw_dir=str(raw),
                               val_ratio=0.3)
    assert other.processed_paths[0] not in (first, seeded.processed_paths[0])
    RecommenderDataset(root, 'folder', raw_dir=str(raw), force_reload=True)
    assert len(calls) == 3

    def add_flag(data):
        data['user'].flag = torch.ones(1)
        return data

    pre = RecommenderDataset(root, 'folder', raw_dir=str(raw),
                             pre_transform=add_flag)
    assert pre.processed_paths[0] != first and 'flag' in pre[0]['user']
    assert 'flag' not in RecommenderDataset(root, 'folder',
                                            raw_dir=str(raw))[0]['user']
    # Changing a raw file invalidates the cache:
    time.sleep(0.01)
    write(raw / 'test.txt', '0 2\n1 0\n')
    changed = RecommenderDataset(root, 'folder', raw_dir=str(raw))
    assert changed.processed_paths[0] != first
    assert edges(changed[0], 'test_edge_index').size(1) == 2


def test_transform(tmp_path):
    def tf(data):
        data['item'].seen = torch.zeros(1)
        return data

    ds = RecommenderDataset(str(tmp_path), 'synthetic', num_users=20,
                            num_items=30, transform=tf)
    assert 'seen' in ds[0]['item']


# Small files in every original format ######################################


def test_pairs_one_based_and_count_files(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '1 1\n1 2\n2 3\n2 1\n')
    write(raw / 'valid.txt', '1 3\n')
    write(raw / 'test.txt.gz', '2 2\n', gz=True)
    write(raw / 'user_list.txt', 'org_id remap_id\n10 0\n11 1\n12 2\n')
    data = load_dataset('office', str(tmp_path), raw_dir=str(raw),
                        one_based=True)
    check_graph(data, 3, 3)
    assert as_list(edges(data)) == [[0, 0], [0, 1], [1, 0], [1, 2]]
    assert as_list(edges(data, 'val_edge_index')) == [[0, 2]]
    assert as_list(edges(data, 'test_edge_index')) == [[1, 1]]
    data = load_dataset('office', str(tmp_path), raw_dir=str(raw))
    assert as_list(edges(data, 'test_edge_index')) == [[2, 2]]
    assert data['user'].num_nodes == 3  # from user_list.txt
    assert data['item'].num_nodes == 4  # max id + 1


def test_lightgcn_without_validation(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt.gz', ''.join(
        f'{u} ' + ' '.join(str((u + k) % 30) for k in range(10)) + '\n'
        for u in range(8)), gz=True)
    write(raw / 'test.txt', '0 20\n1 21 22\n')  # pairs-looking first line
    ds = RecommenderDataset(str(tmp_path), 'gowalla', raw_dir=str(raw),
                            format='lightgcn', num_items=30)
    data = ds[0]
    check_graph(data, 8, 30)
    # 10 training items per user -> max(1, floor(0.1 * 10)) = 1 to valid.
    assert torch.bincount(edges(data, 'val_edge_index')[0]).tolist() == [1] * 8
    assert edges(data).size(1) == 72
    assert as_list(edges(data, 'test_edge_index')) == [[0, 20], [1, 21],
                                                       [1, 22]]
    with pytest.raises(DataFileError, match=r"test.txt', line 2: expected 2 "
                       'fields'):
        load_dataset('gowalla', str(tmp_path), raw_dir=str(raw),
                     format='pairs', num_items=30)


def test_diffrec_npy(tmp_path):
    raw = tmp_path / 'raw' / 'diffrec_clean'
    save_npy(raw / 'train_list.npy.gz', np.array([[0, 0], [0, 1], [1, 1]]),
             gz=True)
    save_npy(raw / 'valid_list.npy', np.array([[1, 2]]))
    save_npy(raw / 'test_list.npy', np.array([[0, 2], [1, 0]]))
    save_npy(raw / 'item_emb.npy', np.ones((3, 4), dtype=np.float32))
    data = load_dataset('ml-1m-diffrec', str(tmp_path),
                        raw_dir=str(tmp_path / 'raw'))
    check_graph(data, 2, 3, (3, 1, 2))
    assert data['item'].pretrained_emb.shape == (3, 4)
    save_npy(raw / 'item_emb.npy', np.ones((5, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"item pretrained_emb from .*"
                       r"item_emb.npy' has shape \[5, 4\], but there are 3 "
                       'items'):
        load_dataset('ml-1m-diffrec', str(tmp_path / 'r2'),
                     raw_dir=str(tmp_path / 'raw'))


def test_json_lists(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.json', json.dumps({'0': [1, 0], '1': [2]}))
    write(raw / 'val.json', json.dumps({'0': [2], '1': []}))
    write(raw / 'test.json', json.dumps({'0': [3], '1': [0]}))
    write(raw / 'item2id.json', json.dumps({f'A{i}': i for i in range(5)}))
    data = load_dataset(str(raw), str(tmp_path))
    check_graph(data, 2, 5, (3, 1, 2))
    assert as_list(edges(data)) == [[0, 0], [0, 1], [1, 2]]


def ml1m_raw(folder, ratings):
    write(folder / 'ratings.dat', ratings)
    write(folder / 'movies.dat',
          "1::Toy Story (1995)::Animation|Children's|Comedy\n"
          '2::Jumanji (1995)::Adventure|Children\'s|Fantasy\n'
          '5::Ch\xe2teau (1990)::Drama\n'
          '9::Unrated (1999)::Horror\n')
    write(folder / 'users.dat', '1::F::1::10::48067\n2::M::56::16::70072\n'
          '3::M::25::15::55117\n')


def test_ml1m_ratings_pipeline(tmp_path):
    # 3 users x {1, 2, 5}; user 3 rated 1 and 5 only, user 1 rated 2 low.
    ratings = ''.join(f'{u}::{m}::{r}::{t}\n' for u, m, r, t in [
        (1, 1, 5, 10), (1, 2, 2, 11), (1, 5, 4, 12), (2, 1, 3, 13),
        (2, 2, 4, 14), (2, 5, 5, 15), (3, 1, 4, 16), (3, 5, 1, 17),
        (1, 1, 5, 18)
    ])
    ml1m_raw(tmp_path / 'raw' / 'ml-1m', ratings)
    data = load_dataset('ml-1m-ratings', str(tmp_path),
                        raw_dir=str(tmp_path / 'raw'), split='temporal')
    # Every rating is an interaction (the duplicate (1, 1) kept once):
    # users 1..3 -> 0..2, MovieIDs 1, 2, 5 -> items 0, 1, 2 (9 unused).
    check_graph(data, 3, 3)
    assert data['item'].raw_id.tolist() == [1, 2, 5]
    assert data['user'].raw_id.tolist() == [1, 2, 3]
    # n=3 -> 1/1/1 (temporal: latest = test); n=2 -> 1/0/1.
    assert as_list(edges(data, 'test_edge_index')) == [[0, 2], [1, 2],
                                                       [2, 2]]
    assert as_list(edges(data, 'val_edge_index')) == [[0, 1], [1, 1]]
    assert as_list(edges(data)) == [[0, 0], [1, 0], [2, 0]]
    x = data['item'].x
    assert x.shape == (3, 18)
    assert x[2].nonzero().view(-1).tolist() == [ML1M_GENRES.index('Drama')]
    assert x[1].nonzero().view(-1).tolist() == [1, 3, 8]
    u = data['user'].x
    assert u.shape == (3, 30) and u[0, 0] == 1 and u[1, 1] == 1
    # Implicit threshold 4: (1,2,2), (2,1,3), (3,5,1) go; then user 3 has
    # one interaction, and a 2-core removes it.
    # Implicit threshold 4 keeps (1,1) (1,5) (2,2) (2,5) (3,1); an item
    # 2-core then drops MovieID 2 (one user left).
    data = load_dataset('ml-1m-ratings', str(tmp_path),
                        raw_dir=str(tmp_path / 'raw'), implicit_threshold=4,
                        k_core=(1, 2))
    check_graph(data, 3, 2)
    assert data['user'].raw_id.tolist() == [1, 2, 3]
    assert data['item'].raw_id.tolist() == [1, 5]
    assert data['item'].x[1].nonzero().view(-1).tolist() == [
        ML1M_GENRES.index('Drama')
    ]
    # A full 2-core cascades to nothing: a clear error, not an empty graph.
    with pytest.raises(ValueError, match='no interaction is left'):
        load_dataset('ml-1m-ratings', str(tmp_path),
                     raw_dir=str(tmp_path / 'raw'), implicit_threshold=4,
                     k_core=2)


def test_ml1m_ratings_unknown_movie(tmp_path):
    ml1m_raw(tmp_path / 'raw', '1::3::5::10\n')
    with pytest.raises(ValueError, match=r'movies.dat.*1 MovieID\(s\).*\[3\]'):
        load_dataset('ml-1m-ratings', str(tmp_path),
                     raw_dir=str(tmp_path / 'raw'))


def review(u, i, r, t):
    return json.dumps(dict(reviewerID=u, asin=i, overall=r, unixReviewTime=t,
                           summary='ok'))


def test_amazon_reviews_pipeline(tmp_path, monkeypatch):
    # 6 users x 6 items fully connected except user U5 (2 reviews) -> the
    # 5-core drops U5; every kept user has 6 -> 4/1/1.
    lines = [
        review(f'U{u}', f'I{i}', 5.0, 1000 + 10 * u + i) for u in range(5)
        for i in range(6)
    ] + [review('U5', 'I0', 4.0, 1), review('U5', 'I1', 3.0, 2)]
    raw = tmp_path / 'raw'
    write(raw / 'reviews_Electronics_5.json.gz', '\n'.join(lines) + '\n',
          gz=True)
    data = load_dataset('electronics', str(tmp_path), raw_dir=str(raw))
    check_graph(data, 5, 6, (20, 5, 5))
    for name in ('edge_index', 'val_edge_index', 'test_edge_index'):
        assert torch.bincount(edges(data, name)[0]).tolist() == \
            {'edge_index': [4] * 5}.get(name, [1] * 5)
    # 'baby' does not take Electronics files (category-specific names):
    monkeypatch.setattr(D, 'download_url', failing_download)
    with pytest.raises(DatasetDownloadError, match='reviews_Baby_5'):
        load_dataset('baby', str(tmp_path), raw_dir=str(raw))


def test_amazon_ratings_csv_and_baby_fallback(tmp_path):
    rows = [f'U{u},I{i},{1 + (u + i) % 5}.0,{100 + u * 7 + i}'
            for u in range(6) for i in range(5)]
    raw = tmp_path / 'raw'
    write(raw / 'ratings_Baby.csv', '\n'.join(rows) + '\n')
    data = load_dataset('baby', str(tmp_path), raw_dir=str(raw))
    check_graph(data, 6, 5, (18, 6, 6))
    thr = load_dataset('baby', str(tmp_path), raw_dir=str(raw),
                       implicit_threshold=4, k_core=0)
    n = sum(edges(thr, k).size(1)
            for k in ('edge_index', 'val_edge_index', 'test_edge_index'))
    assert n == sum(1 for u in range(6) for i in range(5)
                    if 1 + (u + i) % 5 >= 4)


def test_taobao_pipeline(tmp_path):
    rows = []
    for u in range(1, 4):
        for i in range(10, 14):
            rows.append(f'{u},{i},{i // 2},buy,{1511600000 + u * 10 + i}')
            rows.append(f'{u},{i + 20},7,pv,{1511600000 + u}')
    rows.append('9,10,5,buy,1400000000')  # outside the 9-day window
    raw = tmp_path / 'raw'
    write(raw / 'UserBehavior.csv', '\n'.join(rows) + '\n')
    data = load_dataset('taobao', str(tmp_path), raw_dir=str(raw), k_core=2)
    check_graph(data, 3, 4, (6, 3, 3))
    assert data['item'].raw_id.tolist() == [10, 11, 12, 13]
    allb = load_dataset('taobao', str(tmp_path), raw_dir=str(raw), k_core=0,
                        behavior=None, time_window=None)
    assert allb['user'].num_nodes == 4 and allb['item'].num_nodes == 8


# Downloads #################################################################


def failing_download(url, folder, log=True, filename=None):
    raise OSError('network is unreachable')


@pytest.mark.parametrize('name, url_part, files', [
    ('office', 'Qin-lab-code/InfoDCL/c747e980aa7d4740b40cd81dd0717cbd14ae2c6c'
     '/data/office/train.txt', ['train.txt', 'valid.txt', 'test.txt']),
    ('gowalla', 'gusye1234/LightGCN-PyTorch/master/data/gowalla/train.txt',
     ['train.txt', 'test.txt']),
    ('ml-1m', 'NoConst/MulSetRank', ['full_mulsetrank', 'movies.dat']),
    ('ml-1m-ratings', 'files.grouplens.org/datasets/movielens/ml-1m.zip',
     ['ratings.dat']),
    ('electronics', 'reviews_Electronics_5.json.gz',
     ['reviews_Electronics_5.json.gz']),
    ('baby', 'reviews_Baby_5.json.gz', ['train.json', 'reviews_Baby_5']),
    ('taobao', 'UserBehavior.csv.zip', ['UserBehavior.csv']),
])
def test_download_failure_message(tmp_path, monkeypatch, name, url_part,
                                  files):
    monkeypatch.setattr(D, 'download_url', failing_download)
    with pytest.raises(DatasetDownloadError) as e:
        RecommenderDataset(str(tmp_path), name)
    msg = str(e.value)
    assert f"RecommenderDataset('{name}')" in msg
    assert url_part in msg and 'network is unreachable' in msg
    assert osp.join(str(tmp_path), name, 'raw') in msg
    for f in files:
        assert f in msg


def test_diffrec_manual_message(tmp_path):
    with pytest.raises(DatasetDownloadError, match='RAR archive.*train_list'
                       r'.npy.*diffrec_clean'):
        RecommenderDataset(str(tmp_path), 'ml-1m-diffrec')


def test_download_success(tmp_path, monkeypatch):
    served = {
        'train.txt': '0 0\n0 1\n1 1\n',
        'valid.txt': '0 2\n',
        'test.txt': '1 2\n',
    }
    seen = []

    def fake_download(url, folder, log=True, filename=None):
        name = url.rpartition('/')[2]
        seen.append(url)
        if name not in served:
            raise OSError('404')
        return write(osp.join(folder, name), served[name])

    monkeypatch.setattr(D, 'download_url', fake_download)
    with pytest.warns(UserWarning, match='optional file'):
        data = load_dataset('office', str(tmp_path))
    check_graph(data, 2, 3, (3, 1, 1))
    assert seen[0] == Office.url + 'train.txt'
    assert osp.isfile(osp.join(tmp_path, 'office', 'raw', 'train.txt'))


# Bad input #################################################################


def test_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'movielens'; valid "
                       'names: synthetic, office, gowalla'):
        RecommenderDataset(str(tmp_path), 'movielens')
    assert 'ml-1m-ratings' in DATASET_NAMES


def test_missing_files_in_folder(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1\n')
    with pytest.raises(FileNotFoundError, match="folder.*raw files not found "
                       ".*train.txt \\+ test.txt"):
        load_dataset(str(raw), str(tmp_path))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_dataset(str(tmp_path / 'nope'), str(tmp_path))
    with pytest.raises(ValueError, match='needs raw_dir'):
        load_dataset('folder', str(tmp_path))


def test_garbled_file(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1\n1 2\n3\n')
    write(raw / 'valid.txt', '0 2\n')
    write(raw / 'test.txt', '1 1\n')
    with pytest.raises(DataFileError, match=r"train.txt', line 3: expected at "
                       'least 2'):
        load_dataset('office', str(tmp_path), raw_dir=str(raw))
    write(raw / 'train.txt', '0 1\n1 -2\n')
    with pytest.raises(DataFileError, match="train.txt', line 2: negative"):
        load_dataset('office', str(tmp_path), raw_dir=str(raw))
    write(raw / 'train.txt', '0 1\n1 b\n')
    with pytest.raises(DataFileError, match="train.txt', line 2: 'b' is not"):
        load_dataset('office', str(tmp_path), raw_dir=str(raw))


def test_ids_beyond_declared_count(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1\n1 2\n')
    write(raw / 'test.txt', '1 7\n')
    write(raw / 'item_list.txt', 'org_id remap_id\n5 0\n6 1\n7 2\n')
    with pytest.raises(ValueError, match=r"test split \('.*test.txt'\): item "
                       'id 7 is out of range for 3 items'):
        load_dataset(str(raw), str(tmp_path))
    with pytest.raises(ValueError, match='user id 1 is out of range for 1 '
                       'users'):
        load_dataset(str(raw), str(tmp_path), num_users=1, num_items=8)


def test_duplicates_and_overlap(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1\n0 1\n0 2\n1 2\n1 0\n1 0\n1 3\n')
    write(raw / 'valid.txt', '0 3\n')
    write(raw / 'test.txt', '0 2\n1 1\n')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        data = load_dataset(str(raw), str(tmp_path))
    msgs = ' | '.join(str(x.message) for x in w)
    assert 'train split' in msgs and 'dropped 2 duplicate' in msgs
    assert ('1 interaction(s) appear in both the train and the test split; '
            'dropped them from train') in msgs
    assert as_list(edges(data)) == [[0, 1], [1, 0], [1, 2], [1, 3]]
    assert as_list(edges(data, 'test_edge_index')) == [[0, 2], [1, 1]]
    with pytest.raises(ValueError, match="both the train and the test split "
                       r"\(on_overlap='error'\)"):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            load_dataset(str(raw), str(tmp_path), on_overlap='error')


def test_cold_users_warned(tmp_path):
    raw = tmp_path / 'raw'
    write(raw / 'train.txt', '0 1\n0 2\n')
    write(raw / 'valid.txt', '1 0\n2 1\n')
    write(raw / 'test.txt', '1 1\n3 2\n4 0\n')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        data = load_dataset(str(raw), str(tmp_path))
    msgs = [str(x.message) for x in w]
    assert any('2 user(s) in the val split have no training' in m
               for m in msgs)
    assert any('3 user(s) in the test split have no training' in m
               for m in msgs)
    check_graph(data, 5, 3, (2, 2, 3))  # kept


def test_bad_option_values(tmp_path):
    with pytest.raises(ValueError, match='on_overlap'):
        RecommenderDataset(str(tmp_path), 'office', on_overlap='ignore')
    with pytest.raises(TypeError, match="unknown option.*'k_core'"):
        RecommenderDataset(str(tmp_path), 'office', k_core=5)
