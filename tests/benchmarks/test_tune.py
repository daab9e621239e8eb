import csv
import importlib.util
import os.path as osp
import shutil

import optuna
import pytest
import torch
import yaml

ROOT = osp.join(osp.dirname(__file__), '..', '..')
SCRIPT = osp.join(ROOT, 'benchmarks', 'tune.py')


@pytest.fixture(scope='module')
def tune():
    spec = importlib.util.spec_from_file_location('tune', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli():
    spec = importlib.util.spec_from_file_location(
        'train_infodcl', osp.join(ROOT, 'examples', 'train_infodcl.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    r"""60 users in 4 clusters of 30 items; each user holds 8 train, 2
    validation and 2 test items of its cluster (LightGCN line format)."""
    path = tmp_path_factory.mktemp('tiny')
    gen = torch.Generator().manual_seed(0)
    lines = {'train.txt': [], 'valid.txt': [], 'test.txt': []}
    for user in range(60):
        items = (torch.randperm(30, generator=gen)[:12] + 30 * (user % 4))
        for name, part in (('train.txt', items[:8]), ('valid.txt',
                                                      items[8:10]),
                           ('test.txt', items[10:])):
            lines[name].append(' '.join(map(str, [user, *part.tolist()])))
    for name, rows in lines.items():
        (path / name).write_text('\n'.join(rows) + '\n')
    return str(path)


def argv(folder, tmp_path, model='lightgcn', trials=3, *extra):
    return ['--dataset', folder, '--format', 'lightgcn', '--root',
            str(tmp_path / 'cache'),
            '--model', model, '--trials', str(trials), '--epochs', '4',
            '--eval-every', '2', '--patience', '2', '--startup-trials', '2',
            '--prune-after', '2', '--studies', str(tmp_path / 'studies'),
            '--configs', str(tmp_path / 'configs'), *extra]


def read_trials(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_study_runs_resumes_to_the_budget_and_exports(tune, folder,
                                                      tmp_path):
    study = tune.main(argv(folder, tmp_path, 'lightgcn', 3))
    first = [(t.params, t.value, t.state) for t in study.trials]
    assert len(first) == 3
    key = osp.basename(folder)
    db = tmp_path / 'studies' / key / 'lightgcn.db'
    assert db.exists()

    study = tune.main(argv(folder, tmp_path, 'lightgcn', 5))
    assert len(study.trials) == 5
    # Resuming keeps the finished trials and does not replay proposals.
    assert [(t.params, t.value, t.state) for t in study.trials[:3]] == first
    assert study.trials[3].params != study.trials[0].params
    assert tune.main(argv(folder, tmp_path, 'lightgcn', 5)).trials == \
        study.trials

    configs = tmp_path / 'configs' / key
    rows = read_trials(configs / 'lightgcn_trials.csv')
    assert [int(r['trial']) for r in rows] == [0, 1, 2, 3, 4]
    assert set(rows[0]) >= {'lr', 'reg_weight', 'layers', 'batch_size',
                            'valid_recall@20'}
    text = (configs / 'lightgcn.yaml').read_text()
    config = yaml.safe_load(text)
    best = study.best_trial
    assert config['model'] == 'lightgcn'
    assert config['lr'] == best.params['lr']
    assert (config['epochs'], config['eval_every'], config['patience']) == (
        4, 2, 2)
    assert not osp.isabs(config['dataset'])
    assert not any('test' in key for key in config)
    assert 'root' not in config and 'threads' not in config
    # The configuration is a configuration file of the CLI.
    args = cli().parse_args(['--config', str(configs / 'lightgcn.yaml')])
    assert (args.model, args.layers, args.batch_size, args.reg_weight) == (
        'lightgcn', best.params['layers'], best.params['batch_size'],
        best.params['reg_weight'])
    # The objective is the trial's best validation Recall@20.
    assert best.value == best.user_attrs['valid']['recall@20']


def test_a_smaller_budget_exports_the_best_of_the_first_trials(
        tune, folder, tmp_path):
    study = tune.main(argv(folder, tmp_path, 'lightgcn', 5))
    done = sorted((t for t in study.trials if t.value is not None),
                  key=lambda t: t.number)
    assert len(study.trials) == 5
    # The same file read with a budget of 3 runs nothing and exports the
    # best of trials 0..2 only, whatever trials 3 and 4 reached.
    again = tune.main(argv(folder, tmp_path, 'lightgcn', 3))
    assert len(again.trials) == 5
    first = [t for t in done if t.number < 3 and
             t.state == optuna.trial.TrialState.COMPLETE]
    best = max(first, key=lambda t: t.value)
    text = (tmp_path / 'configs' / osp.basename(folder) /
            'lightgcn.yaml').read_text()
    assert text.startswith('# Best of the first 3 trials')
    assert f'trial {best.number},' in text
    assert yaml.safe_load(text)['lr'] == best.params['lr']


def test_a_study_file_of_another_model_or_space_is_refused(tune, folder,
                                                          tmp_path):
    tune.main(argv(folder, tmp_path, 'ease', 1))
    studies = tmp_path / 'studies' / osp.basename(folder)
    shutil.copy(studies / 'ease.db', studies / 'lightgcn.db')
    with pytest.raises(ValueError, match='another dataset or model'):
        tune.main(argv(folder, tmp_path, 'lightgcn', 1))
    # Same model, another search space.
    spec = tune.search_spaces.StudySpec(
        'ease', {}, dict(l2_weight=tune.search_spaces.Float(1.0, 10.0)))
    with pytest.raises(ValueError, match='search_space'):
        tune.main(argv(folder, tmp_path, 'ease', 2), spec=spec)
    # Another training budget.
    with pytest.raises(ValueError, match='budget'):
        tune.main(argv(folder, tmp_path, 'ease', 2)[:-12] + [
            '--epochs', '6', '--eval-every', '2', '--patience', '2',
            '--startup-trials', '2', '--prune-after', '2', '--studies',
            str(tmp_path / 'studies'), '--configs',
            str(tmp_path / 'configs')])


def test_a_diverged_trial_is_recorded_as_failed_and_the_search_goes_on(
        tune, folder, tmp_path):
    Float = tune.search_spaces.Float
    spec = tune.search_spaces.StudySpec(
        'mf', dict(dim=8, layers=1), dict(lr=Float(1e-3, 1e30, log=True)))
    study = tune.main(argv(folder, tmp_path, 'lightgcn', 2), spec=spec,
                      enqueue=[{'lr': 1e30}, {'lr': 0.01}])
    failed, done = study.trials
    assert failed.state == optuna.trial.TrialState.FAIL
    assert 'non-finite' in failed.user_attrs['fail_reason']
    assert done.state == optuna.trial.TrialState.COMPLETE
    assert done.value > 0
    rows = read_trials(tmp_path / 'configs' / osp.basename(folder) /
                       'lightgcn_trials.csv')
    assert rows[0]['state'] == 'fail' and 'non-finite' in rows[0]['note']


def test_an_interrupted_trial_is_closed_and_not_counted(tune, folder,
                                                        tmp_path):
    study = tune.main(argv(folder, tmp_path, 'ease', 1))
    # A kill leaves a trial in the 'running' state.
    study.ask()
    study = tune.main(argv(folder, tmp_path, 'ease', 2))
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2
    assert study.trials[1].user_attrs['interrupted'] is True
    assert tune.Tuner.counted(study) == 2


@pytest.mark.parametrize('space, match', [
    (dict(layers=('Choice', (1, -1))), 'layers = -1'),
    (dict(tau=('Float', 0.0, 0.5)), 'tau = 0.0'),
    (dict(l2_weight=('Float', -5.0, 10.0)), 'l2_weight = -5.0'),
])
def test_space_entries_outside_the_valid_range_fail_at_start(
        tune, folder, tmp_path, space, match):
    ss = tune.search_spaces
    (name, (kind, *bounds)), = space.items()
    dist = ss.Choice(bounds[0]) if kind == 'Choice' else ss.Float(*bounds)
    model = 'ease' if name == 'l2_weight' else 'simgcl'
    spec = ss.StudySpec(model, dict(ss.STUDIES[model].fixed),
                        dict(ss.STUDIES[model].space, **{name: dist}))
    with pytest.raises(ValueError, match=match):
        tune.main(argv(folder, tmp_path, model, 2), spec=spec)
    assert not (tmp_path / 'studies').exists()


@pytest.mark.parametrize('flags, message', [
    (['--trials', '0'], '--trials'),
    (['--model', 'sgl'], 'invalid choice'),
])
def test_bad_flags_are_clear_errors(tune, capsys, flags, message):
    base = ['--dataset', 'office', '--model', 'lightgcn', '--trials', '2']
    with pytest.raises(SystemExit):
        tune.parse_args(base + flags)
    assert message in capsys.readouterr().err


def test_search_spaces_are_valid_and_cover_every_model(tune):
    ss = tune.search_spaces
    assert {'lightgcn', 'simgcl', 'xsimgcl', 'ease'} <= set(ss.STUDIES)
    with pytest.raises(ValueError, match='low < high'):
        ss.Float(1.0, 1.0)
    with pytest.raises(ValueError, match='log scale'):
        ss.Float(0.0, 1.0, log=True)
    assert ss.study_spec('lightgcn', 'ml-1m').space['batch_size'] != \
        ss.study_spec('lightgcn', 'office').space['batch_size']
