r"""Every benchmark script's ``--quick`` mode runs and writes the documented
keys, with no absolute path, into a temporary folder; its study keys still
cover those of the committed results, so they stay readable.

The scripts run in this process (their own subprocesses, the CLI runs and
the fresh-process measurements, run as they do for a user); the three whose
time is spent in subprocesses run in background threads while the others
measure, to keep the whole module within seconds on two cores.
"""
import importlib
import json
import os
import os.path as osp
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
BENCH = osp.join(REPO, 'benchmarks')
RESULTS = osp.join(BENCH, 'results')
ABSOLUTE_PATH = re.compile(r"(?:^|[\s='\"(])(/[\w.-]+(?:/[\w.-]+)+)")
PYTORCH_BUILD_TREE = '/__w/'  # quoted by PyTorch's own warnings in logs

# Report scripts: (committed file, section inside it or None, paths whose
# committed keys a quick report cannot have, paths whose dict keys name data
# rather than fields).
REPORTS = {
    'bench_layers': ('speed.json', 'modules', (), ()),
    'bench_step': ('speed.json', 'training_step', (), ()),
    'bench_propagation': ('propagation.json', None, (), ()),
    'bench_data': ('data.json', None, (), ()),
    # The quick run has one configuration on synthetic data: no ratio
    # between configurations, and no lone run under OpenMP's default wait.
    'bench_epoch': ('epoch.json', None, (
        'ratios', 'concurrency.lone_openmp_default_wait',
        'concurrency.cli_default_over_openmp_default_alone'), ('runs', )),
    # One quick size cannot be fitted; ru_maxrss_mb is no longer reported
    # (one peak-memory measure: VmHWM).
    'bench_scaling': ('speed.json', 'scaling', (
        'slopes.full', 'slopes.sampled',
        'rows[].variants.full.ru_maxrss_mb',
        'rows[].variants.sampled.ru_maxrss_mb'), ()),
}
BACKGROUND = ('bench_scaling', 'bench_epoch', 'bench_quality')


def absolute_paths(value, where='report'):
    r"""(key path, path) of every absolute path held in a JSON value."""
    if isinstance(value, dict):
        return [hit for key, item in value.items()
                for hit in absolute_paths(item, f'{where}.{key}')]
    if isinstance(value, list):
        return [hit for i, item in enumerate(value)
                for hit in absolute_paths(item, f'{where}[{i}]')]
    if isinstance(value, str):
        return [(where, path) for path in text_paths(value)]
    return []


def text_paths(text):
    return [path for path in ABSOLUTE_PATH.findall(text)
            if not path.startswith(PYTORCH_BUILD_TREE)]


def missing_keys(old, new, skip=(), by_data=(), where=''):
    r"""Key paths of :obj:`old` that :obj:`new` lacks (lists compared by
    their first element, dicts under :obj:`by_data` by their first
    value)."""
    if isinstance(old, list) and isinstance(new, list) and old and new:
        return missing_keys(old[0], new[0], skip, by_data, where + '[]')
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return []
    if where.lstrip('.') in by_data:
        return missing_keys(next(iter(old.values())),
                            next(iter(new.values())), skip, by_data, where)
    missing = []
    for key, value in old.items():
        path = f'{where}.{key}'.lstrip('.')
        if path in skip:
            continue
        if key not in new:
            missing.append(path)
        else:
            missing += missing_keys(value, new[key], skip, by_data, path)
    return missing


def test_absolute_paths_are_found():
    report = {'a': ['python x.py --out=/tmp/q/r.json'],
              'b': {'c': "'/home/u/data' and round(N / 25)"}}
    assert absolute_paths(report) == [('report.a[0]', '/tmp/q/r.json'),
                                      ('report.b.c', '/home/u/data')]
    assert missing_keys({'x': [{'y': 1, 'z': 2}]}, {'x': [{'y': 3}]}) == \
        ['x[].z']


@pytest.fixture(scope='module')
def scripts():
    sys.path.insert(0, BENCH)
    try:
        yield {name: importlib.import_module(name)
               for name in [*REPORTS, 'bench_quality', 'common']}
    finally:
        sys.path.remove(BENCH)


@pytest.fixture(scope='module')
def quick_runs(scripts, office_dir, tmp_path_factory):
    r"""Runs every script's ``--quick`` mode once; returns {name: output}."""
    tmp = tmp_path_factory.mktemp('bench')
    data_root = osp.dirname(office_dir)
    threads = torch.get_num_threads()

    def run(name):
        out = str(tmp / (name + ('' if name == 'bench_quality' else
                                 '.json')))
        argv = ['--quick', '--threads', '1', '--out', out]
        if name not in ('bench_layers', 'bench_scaling'):
            argv += ['--data-root', data_root]
        if name in ('bench_epoch', 'bench_quality'):  # run side by side
            argv += ['--root', str(tmp / f'data_{name}')]
        scripts[name].main(argv)
        return out

    try:
        with ThreadPoolExecutor(len(BACKGROUND)) as pool:
            background = {name: pool.submit(run, name) for name in BACKGROUND}
            outputs = {name: run(name) for name in REPORTS
                       if name not in BACKGROUND}
            outputs.update({name: job.result()
                            for name, job in background.items()})
    finally:
        torch.set_num_threads(threads)
    return outputs


def test_reports_store_paths_relative_to_the_repository(scripts, tmp_path):
    common = scripts['common']
    command = common.display_command([
        sys.executable, osp.join(BENCH, 'bench_step.py'), '--data-root',
        osp.join(REPO, '..', 'shared', 'data'),
        f'--out={osp.join(RESULTS, "step.json")}', '--threads', '1'
    ])
    assert command == ('python benchmarks/bench_step.py --data-root '
                       '../shared/data --out=benchmarks/results/step.json '
                       '--threads 1')
    out = tmp_path / 'report.json'
    with pytest.raises(ValueError, match=r'report\.rows\[1\]\.output'):
        common.write_json(str(out), {'rows': [{}, {'output': RESULTS}]})
    assert not out.exists() and list(tmp_path.iterdir()) == []
    common.write_json(str(out), {'output': common.repo_relative(RESULTS)})
    with open(out) as f:
        assert json.load(f) == {'output': 'benchmarks/results'}


@pytest.mark.parametrize('name', list(REPORTS))
def test_quick_report(name, scripts, quick_runs):
    common = scripts['common']
    with open(quick_runs[name]) as f:
        report = json.load(f)
    expected = set(common.HEADER_KEYS) | set(scripts[name].STUDY_KEYS)
    assert expected <= set(report), expected - set(report)
    assert set(common.MACHINE_KEYS) <= set(report['machine'])
    assert report['quick'] is True
    assert report['command'].startswith(f'python benchmarks/{name}.py --quick')
    assert absolute_paths(report) == []

    committed_file, section, skip, by_data = REPORTS[name]
    with open(osp.join(RESULTS, committed_file)) as f:
        committed = json.load(f)
    for key in scripts[name].STUDY_KEYS:
        if not section and key not in committed:
            continue  # a study key newer than the committed record
        old = committed[section] if section else committed[key]
        new = report[key]
        assert missing_keys(old if section else {key: old},
                            new if section else {key: new}, skip,
                            by_data) == []


def test_scaling_plot_beside_report(quick_runs):
    folder = osp.dirname(quick_runs['bench_scaling'])
    assert osp.getsize(osp.join(folder, 'scaling.png')) > 0


def test_quick_quality_run(scripts, quick_runs):
    folder = osp.join(quick_runs['bench_quality'], 'synthetic')
    run_dir = osp.join(folder, 'mf')
    with open(osp.join(run_dir, 'run.json')) as f:
        run = json.load(f)
    assert set(scripts['bench_quality'].RUN_KEYS) <= set(run)
    with open(osp.join(RESULTS, 'quality', 'office', 'mf', 'run.json')) as f:
        assert set(json.load(f)) <= set(run)
    assert run['command'].startswith('python examples/train_infodcl.py')
    with open(osp.join(run_dir, 'results.json')) as f:
        result = json.load(f)
    config = result['config']
    for key in ('root', 'output'):
        assert not osp.isabs(config[key])
    assert osp.samefile(osp.join(REPO, config['output']), run_dir)
    assert absolute_paths(run) == absolute_paths(result) == []
    for text_file in (osp.join(run_dir, 'log.txt'),
                      osp.join(folder, 'summary.md')):
        with open(text_file) as f:
            assert text_paths(f.read()) == []


def test_committed_results_hold_no_absolute_path():
    for folder, _, files in os.walk(RESULTS):
        for name in files:
            if name.endswith(('.json', '.jsonl', '.md', '.txt')):
                with open(osp.join(folder, name)) as f:
                    text = f.read()
                assert text_paths(text) == [], \
                    osp.relpath(osp.join(folder, name), REPO)


def test_final_runs_summarise_seeds_and_resume(scripts, tmp_path):
    final = importlib.import_module('bench_final')
    configs = tmp_path / 'configs' / 'synthetic'
    configs.mkdir(parents=True)
    for model in ('mf', 'lightgcn'):
        (configs / f'{model}.yaml').write_text(
            f'dataset: synthetic\nmodel: {model}\nepochs: 2\neval_every: 1\n'
            f'patience: 1\nbatch_size: 4096\n')
    out = tmp_path / 'final'
    argv = ['--dataset', 'synthetic', '--config-dir', str(tmp_path / 'configs'),
            '--seeds', '1', '2', '--threads', '1', '--out', str(out),
            '--root', str(tmp_path / 'data')]
    final.main(argv)
    summary = json.loads((out / 'synthetic' / 'summary.json').read_text())
    assert set(summary['models']) == {'mf', 'lightgcn'}
    for model, row in summary['models'].items():
        assert sorted(row['seeds']) == [1, 2]
        tests = []
        for seed in (1, 2):
            path = out / 'synthetic' / model / f'seed{seed}' / 'results.json'
            tests.append(json.loads(path.read_text())['test']['recall@20'])
        mean = sum(tests) / 2
        assert row['test_recall']['mean'] == pytest.approx(mean)
        assert row['test_recall']['std'] == pytest.approx(
            abs(tests[0] - tests[1]) / 2**0.5)
    assert (out / 'synthetic' / 'curves.png').stat().st_size > 0
    assert 'R@20 / lightgcn' in (out / 'synthetic' / 'summary.md').read_text()

    # A second invocation keeps every finished seed instead of rerunning it.
    before = {p: p.stat().st_mtime_ns for p in out.rglob('results.json')}
    final.main(argv)
    assert {p: p.stat().st_mtime_ns for p in out.rglob('results.json')} == \
        before


def test_fusion_fuses_every_final_run_and_resumes(scripts, tmp_path):
    final = importlib.import_module('bench_final')
    fusion = importlib.import_module('bench_fusion')
    configs = tmp_path / 'configs' / 'synthetic'
    configs.mkdir(parents=True)
    (configs / 'mf.yaml').write_text(
        'dataset: synthetic\nmodel: mf\nepochs: 2\neval_every: 1\n'
        'patience: 1\nbatch_size: 4096\n')
    (configs / 'ease.yaml').write_text(
        'dataset: synthetic\nmodel: ease\nl2_weight: 50.0\n')
    runs = tmp_path / 'final'
    final.main(['--dataset', 'synthetic', '--config-dir',
                str(tmp_path / 'configs'), '--seeds', '1', '--threads', '1',
                '--out', str(runs), '--root', str(tmp_path / 'data')])
    out = tmp_path / 'fusion'
    argv = ['--dataset', 'synthetic', '--runs', str(runs), '--config-dir',
            str(tmp_path / 'configs'), '--out', str(out), '--threads', '1']
    text = fusion.main(argv)
    path = out / 'synthetic' / 'mf' / 'seed1' / 'results.json'
    result = json.loads(path.read_text())
    base = json.loads((runs / 'synthetic' / 'mf' / 'seed1' /
                       'results.json').read_text())
    # EASE is not fused with itself; the run's own figures travel along.
    assert not (out / 'synthetic' / 'ease').exists()
    assert result['base_test'] == base['test']
    assert result['selected']['l2_weight'] == 50.0
    # Weight 0 (the run alone) is the first candidate: validation can only
    # match or improve the run's own.
    history = [row['valid']['recall@20'] for row in result['history']]
    assert history[0] == pytest.approx(base['valid']['recall@20'])
    assert result['valid']['recall@20'] == max(history)
    assert '| mf | 1 |' in text and '| ease alone | 1 |' in text

    before = path.stat().st_mtime_ns
    fusion.main(argv)
    assert path.stat().st_mtime_ns == before


def test_final_time_to_reference_best(scripts):
    final = importlib.import_module('bench_final')

    def run(curve, seed):
        # Evaluated at epochs 2, 4, 6; each epoch took its index in seconds.
        return dict(config=dict(seed=seed), epoch_seconds=[1, 2, 3, 4, 5, 6],
                    history=[dict(epoch=e, valid={'recall@20': v})
                             for e, v in zip((2, 4, 6), curve)],
                    test={'recall@20': 0.1, 'ndcg@20': 0.05},
                    valid={'recall@20': max(curve)}, best_epoch=6,
                    time_to_best_seconds=21.0, epoch_seconds_median=3.5)

    runs = {'lightgcn': [run((0.1, 0.2, 0.3), 1), run((0.1, 0.2, 0.5), 2)],
            'fast': [run((0.4, 0.4, 0.4), 1), run((0.1, 0.45, 0.5), 2)],
            'slow': [run((0.1, 0.2, 0.35), 1)]}
    rows = final.summarise(runs)
    # The reference's mean best validation is 0.4: 'fast' reaches it after
    # epoch 2 (1+2 s) and after epoch 4 (1+2+3+4 s); 'slow' never does.
    assert rows['fast']['time_to_reference']['values'] == [3, 10]
    assert rows['fast']['time_to_reference']['mean'] == pytest.approx(6.5)
    assert rows['lightgcn']['time_to_reference']['values'] == [None, 21]
    assert final.reference_time_cell(rows['lightgcn']) == '21 (1 of 2 runs)'
    assert final.reference_time_cell(rows['slow']) == 'never'
    assert 'train s to lightgcn best valid' in \
        '\n'.join(final.summary_lines('toy', rows))


def test_recommended_configuration_is_a_copy(scripts):
    # benchmarks/configs/<dataset>/infodcl.yaml must not drift from the
    # configuration whose runs the README reports for it, and bench_final
    # runs it only when named.
    final = importlib.import_module('bench_final')
    from torch_geometric_infodcl.options import read_config_file
    found = 0
    for dataset in sorted(os.listdir(final.CONFIG_DIR)):
        files = final.configs(final.CONFIG_DIR, dataset)
        if final.RECOMMENDED not in files:
            continue
        found += 1
        recommended = read_config_file(files[final.RECOMMENDED])
        others = {name: read_config_file(path) for name, path in files.items()
                  if name != final.RECOMMENDED}
        assert recommended in others.values(), dataset
        assert final.RECOMMENDED not in final.default_models(files)
        assert set(final.default_models(files)) == set(others)
    assert found >= 1
