r"""Training-epoch time of every fast path in one run, through the CLI, on an
otherwise idle machine: the faithful InfoDCL (exact objective:
full-catalogue InfoNCE) in fp32, under bf16 autocast and compiled
(``--compile``), the graph-trained GraphInfoDCL next to PyG's LightGCN at
the same layers and batch size, MF-BPR, and two CLI runs side by side.

Each configuration runs ``examples/train_infodcl.py`` for a few epochs in a
subprocess; the figure is the median of the per-epoch training times after
the first (the trainer excludes evaluation; the first epoch pays one-off
costs, under ``--compile`` the compilation, reported as
``first_epoch_seconds``).

Runs side by side (``concurrency``, synthetic data, InfoDCL, the CLI's
default settings: no ``--threads`` and no ``OMP_*`` variables in the
environment): a lone run; a lone run with OpenMP's own default wait policy
(torch is imported before the CLI, so the package's ``GOMP_SPINCOUNT``
default comes too late: the behaviour before that default); two runs started
at once. It reports each concurrent run's epoch over the lone run's (target
<= 2.5) and the lone run's cost of the default (CLI default over OpenMP's).

Writes ``benchmarks/results/epoch.json`` (the header of :mod:`common`, with
the load average before and after; ``runs``: one entry per
``<dataset>/<config>`` with ``command``, ``epoch_seconds``,
``median_seconds``, ``first_epoch_seconds``, ``test_recall_at_20_after_run``;
``ratios``; ``concurrency``) and the same as a table in ``epoch.md``::

    python benchmarks/bench_epoch.py                 # Office, ML-1M, side by side
    python benchmarks/bench_epoch.py --datasets office --epochs 3
    python benchmarks/bench_epoch.py --quick         # smoke test, seconds
"""
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

import common

NAME = 'epoch'
STUDY_KEYS = ('runs', 'ratios', 'concurrency')
GRAPH_INFODCL = ['--model', 'graph-infodcl', '--layers', '3',
                 '--batch-size', '2048']
# flags, and the datasets a configuration is limited to (None: all).
CONFIGS = {
    'infodcl-fp32': ([], None),
    'infodcl-bf16': (['--bf16'], None),
    # Compilation takes minutes on CPU: measured on Office only.
    'infodcl-compile': (['--compile'], ('office', 'synthetic')),
    'graph-infodcl': (GRAPH_INFODCL, None),
    'lightgcn': (common.LIGHTGCN, None),
    'mf': (common.MF, None),
}
# GraphInfoDCL at PyG LightGCN's batch size where LightGCN's is raised.
OVERRIDES = {**common.OVERRIDES,
             ('ml-1m', 'graph-infodcl'): ['--batch-size', '8192']}
# (numerator, denominator) of each reported ratio of median epochs.
RATIOS = {
    'infodcl_fp32_over_lightgcn': ('infodcl-fp32', 'lightgcn'),
    'infodcl_bf16_over_fp32': ('infodcl-bf16', 'infodcl-fp32'),
    'infodcl_compile_over_fp32': ('infodcl-compile', 'infodcl-fp32'),
    'graph_infodcl_over_lightgcn': ('graph-infodcl', 'lightgcn'),
}
SETTINGS = {
    'full': dict(datasets=['office', 'ml-1m'], configs=list(CONFIGS),
                 epochs=4, long_epochs=2, concurrency=True,
                 concurrency_flags=[], concurrency_epochs=4,
                 openmp_default_run=True),
    # The lone run with OpenMP's default wait can spin for a minute on a
    # busy machine: left out of the smoke test.
    'quick': dict(datasets=['synthetic'], configs=['mf'], epochs=2,
                  long_epochs=2, concurrency=True,
                  concurrency_flags=common.MF, concurrency_epochs=2,
                  openmp_default_run=False),
}
# Variables that would override the defaults the concurrency case measures.
THREAD_VARIABLES = ('OMP_WAIT_POLICY', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                    'GOMP_SPINCOUNT')


def _steady(seconds: List[float]) -> List[float]:
    # The first epoch pays one-off costs (allocator, caches, compilation).
    return seconds[1:] if len(seconds) > 1 else seconds


def _median(values: List[float]) -> float:
    return sorted(values)[len(values) // 2]


def _read_result(out: str, what: str, log: str) -> Dict:
    path = osp.join(out, 'results.json')
    if not osp.isfile(path):
        raise RuntimeError(f'{what} wrote no results.json:\n{log[-3000:]}')
    with open(path) as f:
        return json.load(f)


def _row(cmd: Sequence[str], result: Dict) -> Dict:
    seconds = result['epoch_seconds']
    return dict(command=common.display_command(cmd), epoch_seconds=seconds,
                median_seconds=_median(_steady(seconds)),
                first_epoch_seconds=seconds[0],
                test_recall_at_20_after_run=result['test']['recall@20'])


def epoch_seconds(dataset: str, config: str, cfg: Dict, root: str,
                  data_root: str, threads: Optional[int]) -> Dict:
    # ML-1M epochs are long: fewer epochs, the last ones measured.
    epochs = cfg['epochs'] if dataset != 'ml-1m' else cfg['long_epochs']
    model = 'infodcl' if config.startswith('infodcl') else config
    flags = (['--epochs', str(epochs), '--eval-every', str(epochs)] +
             CONFIGS[config][0] + OVERRIDES.get((dataset, model), []))
    with tempfile.TemporaryDirectory() as out:
        cmd = common.cli_command(dataset, root, out, data_root, threads,
                                 flags)
        proc = common.run_cli(cmd)
        if proc.returncode != 0:
            raise RuntimeError(f'{config} on {dataset} failed:\n'
                               f'{proc.stdout[-3000:]}')
        return _row(cmd, _read_result(out, config, proc.stdout))


def _default_env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}


def _old_default(cmd: List[str]) -> List[str]:
    # torch (and its OpenMP runtime) loads before the CLI sets its default.
    script, args = cmd[1], cmd[2:]
    code = ('import runpy, sys, torch; sys.argv = sys.argv[1:]; '
            'runpy.run_path(sys.argv[0], run_name="__main__")')
    return [sys.executable, '-c', code, script] + args


def _concurrent_rows(cmds: List[List[str]], outs: List[str],
                     env: Dict[str, str]) -> List[Dict]:
    procs = [subprocess.Popen(cmd, cwd=common.REPO_ROOT, env=env,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for cmd in cmds]
    logs = [proc.communicate()[0] for proc in procs]
    return [_row(cmd, _read_result(out, 'a concurrent run', log))
            for cmd, out, log in zip(cmds, outs, logs)]


def bench_concurrency(cfg: Dict, root: str, data_root: str) -> Dict:
    epochs = cfg['concurrency_epochs']
    flags = (['--epochs', str(epochs), '--eval-every', str(epochs)] +
             cfg['concurrency_flags'])
    env = _default_env()
    with tempfile.TemporaryDirectory() as tmp:
        outs = [osp.join(tmp, name) for name in ('lone', 'old', 'a', 'b')]
        cmds = [common.cli_command('synthetic', root, out, data_root, None,
                                   flags) for out in outs]
        lone = _concurrent_rows(cmds[:1], outs[:1], env)[0]
        old = (_concurrent_rows([_old_default(cmds[1])], outs[1:2], env)[0]
               if cfg['openmp_default_run'] else None)
        pair = _concurrent_rows(cmds[2:], outs[2:], env)
    return dict(
        dataset='synthetic', epochs=epochs,
        settings='CLI defaults: no --threads, no OMP_*/MKL_* variables',
        lone=lone, lone_openmp_default_wait=old, side_by_side=pair,
        side_by_side_over_lone=[row['median_seconds'] /
                                lone['median_seconds'] for row in pair],
        cli_default_over_openmp_default_alone=(
            None if old is None else
            lone['median_seconds'] / old['median_seconds']))


def ratios(runs: Dict[str, Dict], datasets: List[str]) -> Dict[str, float]:
    out = {}
    for dataset in datasets:
        for name, (num, den) in RATIOS.items():
            a, b = runs.get(f'{dataset}/{num}'), runs.get(f'{dataset}/{den}')
            if a is not None and b is not None:
                out[f'{dataset}/{name}'] = (a['median_seconds'] /
                                            b['median_seconds'])
    return out


def bench_epochs(cfg: Dict, root: str, data_root: str,
                 threads: Optional[int]) -> Dict:
    runs = {}
    for dataset in cfg['datasets']:
        for config in cfg['configs']:
            only = CONFIGS[config][1]
            if only is not None and dataset not in only:
                continue
            row = epoch_seconds(dataset, config, cfg, root, data_root,
                                threads)
            runs[f'{dataset}/{config}'] = row
            print(f"{dataset:9s} {config:16s} median epoch "
                  f"{row['median_seconds']:.2f} s (first "
                  f"{row['first_epoch_seconds']:.2f} s)", flush=True)
    report = dict(runs=runs, ratios=ratios(runs, cfg['datasets']))
    if cfg['concurrency']:
        report['concurrency'] = bench_concurrency(cfg, root, data_root)
    return report


def markdown(report: Dict) -> str:
    lines = [f"# Epoch times ({report['time']}, load average before / after "
             f"{report['loadavg_before'][0]:.2f} / "
             f"{report['loadavg_after'][0]:.2f}, "
             f"{report['machine']['usable_cpus']} cpus"
             f"{', QUICK: timings meaningless' if report['quick'] else ''})",
             '', '| run | median epoch (s) | first epoch (s) |',
             '|---|---:|---:|']
    lines += [f"| {name} | {row['median_seconds']:.3f} | "
              f"{row['first_epoch_seconds']:.3f} |"
              for name, row in report['runs'].items()]
    lines += ['', '| ratio of median epochs | value |', '|---|---:|']
    lines += [f'| {name} | {value:.3f} |'
              for name, value in report['ratios'].items()]
    side = report.get('concurrency')
    if side is not None:
        old = side['lone_openmp_default_wait']
        old_text = ('not run' if old is None else
                    f"{old['median_seconds']:.3f} s (CLI default / OpenMP default "
                    f"{side['cli_default_over_openmp_default_alone']:.3f})")
        lines += ['', f"Side by side ({side['dataset']}, {side['settings']}):"
                  f" lone {side['lone']['median_seconds']:.3f} s; lone with "
                  f"OpenMP's default wait {old_text}; two at once " +
                  ', '.join(
                      f"{row['median_seconds']:.3f} s"
                      for row in side['side_by_side']) +
                  ' (over lone: ' + ', '.join(
                      f'{r:.2f}' for r in side['side_by_side_over_lone']) +
                  ').']
    lines += ['', f"Command: `{report['command']}`", '']
    return '\n'.join(lines)


def describe(report: Dict) -> None:
    print(markdown(report))


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = common.parser(__doc__, NAME)
    parser.add_argument('--datasets', help='comma-separated (default: '
                        'office,ml-1m; with --quick synthetic)')
    parser.add_argument('--configs', help=f"comma-separated from "
                        f"{','.join(CONFIGS)} (default: all; with --quick "
                        f"mf)")
    parser.add_argument('--epochs', type=common.positive_int)
    parser.add_argument('--no-concurrency', action='store_true',
                        help='skip the runs side by side')
    parser.add_argument('--root', default=None,
                        help='dataset cache root (default: data; with '
                        '--quick a folder in the temporary folder)')
    args = parser.parse_args(argv)
    cfg = dict(SETTINGS['quick' if args.quick else 'full'])
    if args.datasets:
        cfg['datasets'] = [name for name in args.datasets.split(',') if name]
    if args.configs:
        cfg['configs'] = common.choices(parser, args.configs, CONFIGS,
                                        '--configs')
    if args.epochs:
        cfg['epochs'] = args.epochs
    if args.no_concurrency:
        cfg['concurrency'] = False
    root = args.root or common.default_root(args.quick)
    data_root = osp.abspath(args.data_root)
    report = common.run_report(
        __file__, argv, args, NAME, cfg,
        lambda: bench_epochs(cfg, root, data_root, args.threads), describe)
    out = common.output_path(args, NAME)
    common.write_text(osp.splitext(out)[0] + '.md', markdown(report))
    return report


if __name__ == '__main__':
    main()
