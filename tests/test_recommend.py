import importlib.util
import os.path as osp

import pytest
import torch
from torch_geometric.data import HeteroData

from torch_geometric_infodcl.checkpoint import load_checkpoint
from torch_geometric_infodcl.experiment import load_data

EXAMPLES = osp.join(osp.dirname(__file__), '..', 'examples')


def load(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(EXAMPLES, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
    # MF without propagation: the scores are inner products of the tables.
    root = tmp_path_factory.mktemp('run')
    out = str(root / 'run')
    load('train_infodcl').main([
        '--root', str(root / 'data'), '--model', 'mf', '--layers', '0',
        '--dim', '16', '--epochs', '2', '--eval-every', '1', '--no-progress',
        '--threads', '1', '--output', out
    ])
    return out, str(root / 'data')


def test_top_k_unseen_items_by_brute_force(finished_run, capsys):
    out, root = finished_run
    result = load('recommend').main(['--run', out, '--user', '3', '--k', '5'])

    data, _ = load_data('synthetic', root)
    store = data['user', 'interacts', 'item']
    best = load_checkpoint(osp.join(out, 'checkpoint.pt'))['best_model']
    scores = best['item_emb.weight'] @ best['user_emb.weight'][3]
    seen = set(store.edge_index[1, store.edge_index[0] == 3].tolist())
    valid = set(store.val_edge_index[1, store.val_edge_index[0] == 3].tolist())
    test = set(store.test_edge_index[1,
                                     store.test_edge_index[0] == 3].tolist())
    ranked = sorted((i for i in range(scores.numel())
                     if i not in seen | valid),
                    key=lambda i: -float(scores[i]))
    assert result['recommended'] == ranked[:5]
    assert result['scores'] == pytest.approx(
        [float(scores[i]) for i in ranked[:5]])
    assert set(result['seen']) == seen and set(result['test']) == test

    printed = capsys.readouterr().out
    assert 'mf on synthetic (best validation epoch' in printed
    assert f'interacted with (training): {len(seen)} items' in printed
    first = result['recommended'][0]
    mark = '*' if first in test else ' '
    assert f'    1. {mark} {first:>6}  item {first}  (score' in printed


def test_titles_from_movies_dat(tmp_path):
    recommend = load('recommend')
    (tmp_path / 'raw').mkdir()
    (tmp_path / 'raw' / 'movies.dat').write_bytes(
        '1::Toy Story (1995)::Animation|Comedy\n'
        '5::Caf\xe9 (2000)::Drama\n'
        '2::Jumanji (1995)::Adventure\n'.encode('latin-1'))
    data = HeteroData()
    data['item'].num_nodes = 3
    assert recommend.item_titles(data, str(tmp_path)) == [
        'Toy Story (1995)', 'Caf\xe9 (2000)', 'Jumanji (1995)']
    data['item'].raw_id = torch.tensor([2, 1, 9])  # Pipeline ids: MovieIDs.
    assert recommend.item_titles(data, str(tmp_path)) == [
        'Jumanji (1995)', 'Toy Story (1995)', 'MovieID 9']
    del data['item'].raw_id
    data['item'].num_nodes = 4  # Not the file the ids index.
    assert recommend.item_titles(data, str(tmp_path)) is None
    assert recommend.item_titles(data, str(tmp_path / 'raw' / 'x')) is None


def test_bad_requests(finished_run, tmp_path):
    recommend = load('recommend')
    out, _ = finished_run
    with pytest.raises(ValueError, match=r'--user must be in \[0, 2000\)'):
        recommend.main(['--run', out, '--user', '2000'])
    with pytest.raises(FileNotFoundError, match='holds no config.yaml'):
        recommend.main(['--run', str(tmp_path), '--user', '1'])


# examples/fuse_ease.py reads a finished run the same way ####################


def test_fuse_ease_chooses_the_weight_on_validation(finished_run, tmp_path):
    import json
    out, root = finished_run
    fused_dir = str(tmp_path / 'fused')
    result = load('fuse_ease').main([
        '--run', out, '--output', fused_dir, '--l2-weight', '50',
        '--weights', '0', '0.5', '2', '--threads', '1'])
    with open(osp.join(out, 'results.json')) as f:
        alone = json.load(f)
    # The run's own metrics, recomputed from its checkpoint.
    assert result['base_test']['recall@20'] == pytest.approx(
        alone['test']['recall@20'])
    assert result['base_valid'] == pytest.approx(alone['valid'])
    # Weight 0 (the run alone) is a candidate, so validation cannot fall.
    history = [row['valid']['recall@20'] for row in result['history']]
    assert history[0] == pytest.approx(alone['valid']['recall@20'])
    assert result['valid']['recall@20'] == max(history)
    assert result['selected']['weight'] == [0, 0.5, 2][
        history.index(max(history))]
    assert result['selected']['l2_weight'] == 50.0
    with open(osp.join(fused_dir, 'results.json')) as f:
        assert json.load(f)['test'] == result['test']
    # The folder belongs to that fused run: a second one is refused.
    with pytest.raises(FileExistsError, match='holds files of a previous'):
        load('fuse_ease').main(['--run', out, '--output', fused_dir])
    # --resume finds the grid finished and reports the same choice.
    again = load('fuse_ease').main(['--run', out, '--output', fused_dir,
                                    '--l2-weight', '50', '--weights', '0',
                                    '0.5', '2', '--resume'])
    assert again['selected'] == result['selected']
    assert again['test'] == result['test']
    with pytest.raises(FileNotFoundError, match='holds no config.yaml'):
        load('fuse_ease').main(['--run', str(tmp_path), '--output',
                                str(tmp_path / 'other')])
