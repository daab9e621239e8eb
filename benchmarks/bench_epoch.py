r"""Training-epoch time of InfoDCL (exact objective: full-catalogue InfoNCE) in
fp32 and under bf16 autocast, next to PyG's LightGCN and MF-BPR, through the
CLI on an otherwise idle machine.

Each configuration runs ``examples/train_infodcl.py`` for a few epochs in a
subprocess; the figure is the median of the per-epoch training times after
the first (the trainer excludes evaluation). ``--quick`` trains MF-BPR on
the synthetic dataset for 2 epochs.

Writes ``benchmarks/results/epoch.json``: the header of :mod:`common` and
``runs``, one entry per ``<dataset>/<config>`` with ``command``,
``epoch_seconds``, ``median_seconds``, ``test_recall_at_20_after_run``::

    python benchmarks/bench_epoch.py                 # Office and ML-1M
    python benchmarks/bench_epoch.py --datasets office --epochs 3
"""
import json
import os.path as osp
import sys
import tempfile
from typing import Dict, Optional, Sequence

import common

NAME = 'epoch'
STUDY_KEYS = ('runs', )
CONFIGS = {
    'infodcl-fp32': [],
    'infodcl-bf16': ['--bf16'],
    'lightgcn': common.LIGHTGCN,
    'mf': common.MF,
}
SETTINGS = {
    'full': dict(datasets=['office', 'ml-1m'], configs=list(CONFIGS),
                 epochs=4),
    'quick': dict(datasets=['synthetic'], configs=['mf'],
                  epochs=2),
}


def epoch_seconds(dataset: str, config: str, cfg: Dict, root: str,
                  data_root: str, threads: Optional[int]) -> Dict:
    # ML-1M epochs are long: two epochs, the second one measured.
    epochs = cfg['epochs'] if dataset != 'ml-1m' else 2
    model = 'infodcl' if config.startswith('infodcl') else config
    flags = (['--epochs', str(epochs), '--eval-every', str(epochs)] +
             CONFIGS[config] + common.OVERRIDES.get((dataset, model), []))
    with tempfile.TemporaryDirectory() as out:
        cmd = common.cli_command(dataset, root, out, data_root, threads,
                                 flags)
        proc = common.run_cli(cmd)
        if proc.returncode != 0:
            raise RuntimeError(f'{config} on {dataset} failed:\n'
                               f'{proc.stdout[-3000:]}')
        with open(osp.join(out, 'results.json')) as f:
            result = json.load(f)
    seconds = result['epoch_seconds']
    # The first epoch pays one-off costs (allocator warm-up, caches).
    steady = seconds[1:] if len(seconds) > 1 else seconds
    return dict(command=common.display_command(cmd), epoch_seconds=seconds,
                median_seconds=sorted(steady)[len(steady) // 2],
                test_recall_at_20_after_run=result['test']['recall@20'])


def bench_epochs(cfg: Dict, root: str, data_root: str,
                 threads: Optional[int]) -> Dict:
    runs = {}
    for dataset in cfg['datasets']:
        for config in cfg['configs']:
            row = epoch_seconds(dataset, config, cfg, root, data_root,
                                threads)
            runs[f'{dataset}/{config}'] = row
            print(f"{dataset:9s} {config:14s} median epoch "
                  f"{row['median_seconds']:.2f} s", flush=True)
    return dict(runs=runs)


def describe(report: Dict) -> None:
    for name, row in report['runs'].items():
        print(f"  {name}: {row['epoch_seconds']}")


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = common.parser(__doc__, NAME)
    parser.add_argument('--datasets', help='comma-separated (default: '
                        'office,ml-1m; with --quick synthetic)')
    parser.add_argument('--configs', help=f"comma-separated from "
                        f"{','.join(CONFIGS)} (default: all; with --quick "
                        f"mf)")
    parser.add_argument('--epochs', type=common.positive_int)
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
    root = args.root or common.default_root(args.quick)
    data_root = osp.abspath(args.data_root)
    return common.run_report(
        __file__, argv, args, NAME, cfg,
        lambda: bench_epochs(cfg, root, data_root, args.threads), describe)


if __name__ == '__main__':
    main()
