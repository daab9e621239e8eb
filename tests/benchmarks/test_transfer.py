import os
import os.path as osp
import shutil
import sys

import pytest

from torch_geometric_infodcl.options import read_config_file

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'benchmarks')


@pytest.fixture(scope='module')
def transfer():
    sys.path.insert(0, BENCH)
    try:
        import transfer
        yield transfer
    finally:
        sys.path.remove(BENCH)


@pytest.fixture
def config_dir(tmp_path):
    r"""A copy of three committed Office files: one tuned, the hand-picked
    defaults and the recommended copy."""
    office = tmp_path / 'configs' / 'office'
    office.mkdir(parents=True)
    for name in ('lightgcn', 'graph-infodcl-default', 'infodcl'):
        shutil.copy(osp.join(BENCH, 'configs', 'office', f'{name}.yaml'),
                    office)
    return tmp_path / 'configs'


def run(transfer, config_dir, tmp_path, *extra):
    transfer.main(['--target', 'baby', '--raw-dir', 'data/baby',
                   '--config-dir', str(config_dir),
                   '--out', str(tmp_path / 'out'), *extra])
    return tmp_path / 'out' / 'baby'


def test_only_the_dataset_changes(transfer, config_dir, tmp_path):
    out = run(transfer, config_dir, tmp_path)
    # By default neither the hand-picked defaults nor the recommended copy.
    assert sorted(os.listdir(out)) == ['lightgcn.yaml']
    source = read_config_file(str(config_dir / 'office' / 'lightgcn.yaml'))
    moved = read_config_file(str(out / 'lightgcn.yaml'))
    assert moved.pop('dataset') == 'baby' and source.pop('dataset') == \
        'office'
    assert moved.pop('raw_dir') == 'data/baby'
    source.pop('raw_dir')
    assert moved == source
    assert 'not tuned on baby' in (out / 'lightgcn.yaml').read_text()


def test_named_models_and_errors(transfer, config_dir, tmp_path, capsys):
    out = run(transfer, config_dir, tmp_path, '--models',
              'graph-infodcl-default')
    assert os.listdir(out) == ['graph-infodcl-default.yaml']
    with pytest.raises(SystemExit) as e:
        run(transfer, config_dir, tmp_path, '--models', 'lightgcn,nope')
    assert e.value.code == 2
    assert 'no tuned office configuration for nope' in \
        capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        run(transfer, config_dir, tmp_path, '--source', 'gowalla')
    assert e.value.code == 2 and 'gowalla' in capsys.readouterr().err


def test_committed_transfers_match_their_sources(transfer):
    # Each committed file is what transfer.py writes from the committed
    # Office configuration today: a retuned source must be carried over.
    for target in os.listdir(transfer.TRANSFER_DIR):
        folder = osp.join(transfer.TRANSFER_DIR, target)
        for name in sorted(os.listdir(folder)):
            path = osp.join(folder, name)
            raw_dir = read_config_file(path)['raw_dir']
            expected = transfer.transfer_text(
                osp.join(BENCH, 'configs', 'office', name), 'office', target,
                raw_dir)
            with open(path) as f:
                assert f.read() == expected, path
