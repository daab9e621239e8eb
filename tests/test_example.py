import importlib.util
import json
import os
import os.path as osp
import re

import pytest

from torch_geometric_infodcl.run_folder import RunFolder

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


def mf_args(data_root, *extra):
    return ['--root', data_root, '--model', 'mf', '--dim', '16', '--epochs',
            '2', '--eval-every', '1', '--no-progress', '--threads', '1',
            *extra]


def test_a_saved_configuration_repeats_the_run(cli, data_root, tmp_path):
    first = cli.main(mf_args(data_root, '--lr', '0.01', '--output',
                             str(tmp_path / 'a')))
    config = tmp_path / 'a' / 'config.yaml'
    text = config.read_text()
    assert 'lr: 0.01\n' in text and 'model: mf\n' in text
    assert 'output:' not in text and 'resume:' not in text
    again = cli.main(['--config', str(config), '--output',
                      str(tmp_path / 'b')])
    assert again['test'] == first['test'] and again['valid'] == first['valid']
    assert (tmp_path / 'b' / 'config.yaml').read_text() == text
    saved = json.loads((tmp_path / 'b' / 'results.json').read_text())
    assert saved['config'] == again['config']
    assert saved['config']['output'] == str(tmp_path / 'b')
    assert dict(again['config'], output=None) == dict(first['config'],
                                                      output=None)
    # Explicit flags override the file.
    third = cli.main(['--config', str(config), '--epochs', '1'])
    assert third['config']['epochs'] == 1 and third['epochs_run'] == 1


def test_resume_refuses_changed_flags_and_records_the_truth(
        cli, data_root, tmp_path):
    out = str(tmp_path / 'run')
    cli.main(fast_args(data_root, '--output', out))
    for flags, difference in [
        (['--top-k', '5'], 'run_info.top_k: checkpoint 20, now 5'),
        (['--reference-protocol'],
         'run_info.reference_protocol: checkpoint False, now True'),
        (['--threads', '2'], 'runtime.threads: checkpoint 1, now 2'),
    ]:
        with pytest.raises(ValueError, match=re.escape(difference)):
            cli.main(fast_args(data_root, '--output', out, '--resume',
                               *flags))
    # The epoch budget may change; the saved files say what was run. The
    # configuration comes from the folder's config.yaml.
    result = cli.main(['--output', out, '--resume', '--epochs', '3',
                       '--no-progress'])
    saved = json.loads(open(osp.join(out, 'results.json')).read())
    assert saved['config']['epochs'] == 3 and saved['epochs_run'] == 3
    assert saved['config']['top_k'] == 20 and saved['config']['steps'] == 20
    assert saved['sessions'] == [{'start_epoch': 0, 'epochs': 2},
                                 {'start_epoch': 2, 'epochs': 3}]
    assert result['history'][-1]['epoch'] == 3
    assert 'epochs: 3\n' in open(osp.join(out, 'config.yaml')).read()


def console(cli, capsys, argv):
    code = cli.console_main(argv)
    return code, capsys.readouterr().err


def test_expected_failures_are_one_error_line(cli, data_root, tmp_path,
                                              capsys, monkeypatch):
    out = str(tmp_path / 'run')
    assert console(cli, capsys, mf_args(data_root, '--output', out))[0] == 0

    code, err = console(cli, capsys, mf_args(data_root, '--output', out))
    assert code == 2 and err.count('\n') == 1 and 'Traceback' not in err
    assert err.startswith(f"error: the output folder '{out}' holds files of "
                          f"a previous run")

    (tmp_path / 'file').write_text('')
    code, err = console(cli, capsys, mf_args(data_root, '--output',
                                             str(tmp_path / 'file')))
    assert (code, err) == (2, f"error: the output folder "
                           f"'{tmp_path / 'file'}' is a file\n")
    code, err = console(cli, capsys, mf_args(
        data_root, '--output', str(tmp_path / 'file' / 'sub')))
    assert (code, err) == (2, f"error: Not a directory: "
                           f"'{tmp_path / 'file' / 'sub'}'\n")

    def denied(path, *args, **kwargs):
        raise PermissionError(13, 'Permission denied', path)

    monkeypatch.setattr(cli_os(), 'makedirs', denied)
    code, err = console(cli, capsys, mf_args(data_root, '--output',
                                             str(tmp_path / 'locked')))
    assert (code, err) == (2, f"error: Permission denied: "
                           f"'{tmp_path / 'locked'}'\n")
    monkeypatch.undo()

    with RunFolder(str(tmp_path / 'busy')).acquire():
        code, err = console(cli, capsys, mf_args(
            data_root, '--output', str(tmp_path / 'busy')))
    assert code == 2 and 'is in use by another run (pid' in err

    (tmp_path / 'bad.yaml').write_text('model: mf\nepochz: 3\n')
    code, err = console(cli, capsys, ['--config', str(tmp_path / 'bad.yaml')])
    assert (code, err) == (2, f"error: {tmp_path / 'bad.yaml'}: key 'epochz'"
                           f": unknown option; did you mean epochs?\n")

    code, err = console(cli, capsys, ['--config', str(tmp_path / 'no.yaml')])
    assert (code, err) == (2, f"error: No such file or directory: "
                           f"'{tmp_path / 'no.yaml'}'\n")

    code, err = console(cli, capsys, mf_args(data_root, '--output', out,
                                             '--debug'))
    assert code == 2 and 'Traceback' in err
    assert err.splitlines()[-1].startswith('error: the output folder')


def cli_os():
    import torch_geometric_infodcl.run_folder as run_folder
    return run_folder.os


def test_a_full_disk_during_checkpointing_is_one_error_line(
        cli, data_root, tmp_path, run_forked):
    import resource
    import signal
    out = str(tmp_path / 'run')
    cli.main(mf_args(data_root, '--epochs', '1', '--output', out))
    before = open(osp.join(out, 'checkpoint.pt'), 'rb').read()

    def resume_on_a_full_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))
        return cli.console_main(['--output', out, '--resume', '--epochs',
                                 '3'])

    status, output = run_forked(resume_on_a_full_disk)
    assert os.WEXITSTATUS(status) == 2, output
    assert 'Traceback' not in output and 'enforce fail' not in output
    last = output.splitlines()[-1]
    assert last.startswith(f"error: could not write "
                           f"'{osp.join(out, 'checkpoint.pt')}' (write failed")
    assert last.endswith('the previous file, if any, is unchanged')
    assert open(osp.join(out, 'checkpoint.pt'), 'rb').read() == before
    assert sorted(os.listdir(out)) == ['checkpoint.pt', 'config.yaml',
                                       'curves.png', 'metrics.jsonl',
                                       'results.json']


def baseline_args(data_root, model, *extra):
    return ['--root', data_root, '--model', model, '--epochs', '2',
            '--eval-every', '1', '--batch-size', '4000', '--no-progress',
            '--threads', '1', *extra]


@pytest.mark.parametrize('model, flags', [
    ('simgcl', ['--layers', '2', '--cl-weight', '0.1', '--eps', '0.1']),
    ('xsimgcl', ['--layers', '2', '--cl-layer', '2']),
])
def test_simgcl_models_train_through_the_cli(cli, data_root, model, flags):
    result = cli.main(baseline_args(data_root, model, *flags))
    assert result['model'] == model
    assert result['test']['recall@20'] > 0.03
    assert set(result['epoch_losses'][-1]) == {'total', 'bpr', 'cl', 'reg'}
    # The reference code's training settings are this model's defaults.
    assert result['config']['lr'] == 1e-3


def test_ease_candidates_are_selected_on_validation_through_the_cli(
        cli, data_root, tmp_path):
    out = str(tmp_path / 'ease')
    result = cli.main(['--root', data_root, '--model', 'ease',
                       '--l2-weight', '50,500', '--patience', '5',
                       '--no-progress', '--threads', '1', '--output', out])
    valid = [row['valid']['recall@20'] for row in result['history']]
    assert len(valid) == 2
    assert result['best_epoch'] == 1 + valid.index(max(valid))
    assert result['selected'] == {
        'l2_weight': [50.0, 500.0][result['best_epoch'] - 1]}
    with open(osp.join(out, 'results.json')) as f:
        assert json.load(f)['selected'] == result['selected']
    # A tuned configuration holds one L2 weight.
    config = tmp_path / 'ease.yaml'
    config.write_text('model: ease\nl2_weight: 200\n')
    args = cli.parse_args(['--config', str(config)])
    assert args.l2_weight == 200.0


@pytest.mark.parametrize('flags, message', [
    (['--model', 'ease', '--l2-weight', '0,10'], 'floats'),
    (['--model', 'simgcl', '--eps', '-0.1'], 'float >= 0'),
    (['--model', 'xsimgcl', '--cl-layer', '0'], 'positive integer'),
    (['--model', 'lightgcn', '--eps', '0.1'], 'does not apply'),
])
def test_invalid_baseline_flags_give_clear_errors(cli, capsys, flags,
                                                  message):
    with pytest.raises((SystemExit, ValueError), match=None) as info:
        cli.parse_args(flags)
    text = capsys.readouterr().err if info.type is SystemExit else \
        str(info.value)
    assert message in text


def test_xsimgcl_cl_layer_beyond_layers_is_a_clear_error(cli, data_root):
    with pytest.raises(ValueError, match='cl_layer'):
        cli.main(baseline_args(data_root, 'xsimgcl', '--layers', '2',
                               '--cl-layer', '3'))


@pytest.mark.parametrize('given,expected', [
    ({}, 'None 1000'),
    ({'OMP_WAIT_POLICY': 'PASSIVE'}, 'PASSIVE None'),
    ({'OMP_WAIT_POLICY': 'ACTIVE'}, 'ACTIVE None'),
    ({'GOMP_SPINCOUNT': '5'}, 'None 5'),
])
def test_cli_sets_a_short_openmp_spin_before_torch_loads(given, expected):
    # Records OMP_WAIT_POLICY and GOMP_SPINCOUNT at the moment the CLI first
    # imports torch (when OpenMP reads them); an explicit setting wins.
    import subprocess
    import sys
    probe = (
        "import importlib.util, os, sys\n"
        "seen = []\n"
        "class Probe:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' and not seen:\n"
        "            seen.append(f\"{os.environ.get('OMP_WAIT_POLICY')} \"\n"
        "                        f\"{os.environ.get('GOMP_SPINCOUNT')}\")\n"
        "sys.meta_path.insert(0, Probe())\n"
        f"spec = importlib.util.spec_from_file_location('cli', {SCRIPT!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(seen[0])\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')}
    env.update(given)
    out = subprocess.run([sys.executable, '-c', probe], env=env, text=True,
                         capture_output=True, check=True).stdout
    assert out.strip() == expected
