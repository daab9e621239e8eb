import importlib.util
import json
import os.path as osp

import pytest

SCRIPT = osp.join(osp.dirname(__file__), '..', 'examples', 'train_infodcl.py')


@pytest.fixture(scope='module')
def cli():
    spec = importlib.util.spec_from_file_location('train_infodcl', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('data'))


def fast_args(data_root, *extra):
    return ['--root', data_root, '--epochs', '2', '--eval-every', '1',
            '--batch-size', '4000', '--steps', '20', '--no-progress',
            '--threads', '1', *extra]


def test_end_to_end_writes_results_log_and_curves(cli, data_root, tmp_path):
    out = str(tmp_path / 'run')
    result = cli.main(fast_args(data_root, '--output', out))
    with open(osp.join(out, 'results.json')) as f:
        saved = json.load(f)
    for key in ('dataset', 'best_epoch', 'valid', 'test',
                'epoch_seconds_median', 'config'):
        assert key in saved
    assert saved['dataset'] == 'synthetic'
    assert saved['test']['recall@20'] == pytest.approx(
        result['test']['recall@20'])
    with open(osp.join(out, 'metrics.jsonl')) as f:
        lines = [json.loads(line) for line in f]
    assert [line['epoch'] for line in lines] == [1, 2]
    assert osp.getsize(osp.join(out, 'curves.png')) > 0
    # Two epochs already beat the random level (about 20 / 1,000 items).
    assert result['test']['recall@20'] > 0.03


def test_resume_with_another_configuration_is_refused(cli, data_root,
                                                      tmp_path):
    out = str(tmp_path / 'run')
    cli.main(fast_args(data_root, '--output', out))
    with pytest.raises(ValueError, match='lr'):
        cli.main(fast_args(data_root, '--output', out, '--resume', '--lr',
                           '0.01'))
    with pytest.raises(FileExistsError, match='resume'):
        cli.main(fast_args(data_root, '--output', out))


@pytest.mark.parametrize('flags, message', [
    (['--epochs', '0'], 'positive integer'),
    (['--negatives', 'some'], "'full', 'in_batch'"),
    (['--metadata', 'social,genre'], 'unknown metadata channel'),
    (['--tau', '-1'], 'float > 0'),
    (['--layers', '-2'], '--layers'),
    (['--resume'], '--resume needs --output'),
    (['--schedule', 'quadratic'], 'invalid choice'),
])
def test_invalid_flags_give_clear_errors(cli, capsys, flags, message):
    with pytest.raises(SystemExit):
        cli.parse_args(flags)
    assert message in capsys.readouterr().err


def test_folder_without_dataset_files_is_a_clear_error(cli, tmp_path):
    folder = tmp_path / 'empty'
    folder.mkdir()
    (folder / 'notes.txt').write_text('nothing here\n')
    with pytest.raises((ValueError, FileNotFoundError), match='empty'):
        cli.main(['--dataset', str(folder), '--root', str(tmp_path / 'r'),
                  '--epochs', '1', '--no-progress'])
