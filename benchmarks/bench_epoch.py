r"""Training-epoch time of InfoDCL (exact objective: full-catalogue InfoNCE) in
fp32 and under bf16 autocast, next to PyG's LightGCN and MF-BPR, through the
CLI on an otherwise idle machine.

Each configuration runs ``examples/train_infodcl.py`` for a few epochs in a
subprocess; the figure is the median of the per-epoch training times (the
trainer excludes evaluation). Writes ``benchmarks/results/epoch.json``.

    python benchmarks/bench_epoch.py                 # Office and ML-1M
    python benchmarks/bench_epoch.py --datasets office --epochs 3
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from bench_quality import (  # noqa: E402
    OVERRIDES, RAW_DIRS, ROOT, SCRIPT, VARIANTS, machine)

CONFIGS = {
    'infodcl-fp32': [],
    'infodcl-bf16': ['--bf16'],
    'lightgcn': VARIANTS['lightgcn'],
    'mf': VARIANTS['mf'],
}


def epoch_seconds(dataset: str, config: str, args) -> dict:
    # ML-1M epochs are long: two epochs, the second one measured.
    epochs = args.epochs if dataset != 'ml-1m' else 2
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, SCRIPT, '--dataset', dataset, '--root',
               args.root, '--raw-dir',
               osp.join(args.data_root, RAW_DIRS[dataset]), '--epochs',
               str(epochs), '--eval-every', str(epochs),
               '--no-progress', '--device', 'cpu', '--output', out]
        if args.threads:
            cmd += ['--threads', str(args.threads)]
        model = 'infodcl' if config.startswith('infodcl') else config
        cmd += CONFIGS[config] + OVERRIDES.get((dataset, model), [])
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'{config} on {dataset} failed:\n'
                               f'{proc.stdout[-2000:]}{proc.stderr[-2000:]}')
        with open(osp.join(out, 'results.json')) as f:
            result = json.load(f)
    seconds = result['epoch_seconds']
    # The first epoch pays one-off costs (allocator warm-up, caches).
    steady = seconds[1:] if len(seconds) > 1 else seconds
    return dict(command=' '.join(cmd), epoch_seconds=seconds,
                median_seconds=sorted(steady)[len(steady) // 2],
                test_recall_at_20_after_run=result['test']['recall@20'])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--datasets', default='office,ml-1m')
    p.add_argument('--configs', default=','.join(CONFIGS))
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--data-root', default=osp.join(ROOT, '..', 'shared',
                                                   'data'))
    p.add_argument('--root', default=osp.join(ROOT, 'data'))
    p.add_argument('--out', default=osp.join(ROOT, 'benchmarks', 'results',
                                             'epoch.json'))
    args = p.parse_args()
    report = dict(machine=machine(), command=' '.join(sys.argv),
                  load_average_before=os.getloadavg(), runs={})
    for dataset in args.datasets.split(','):
        for config in args.configs.split(','):
            row = epoch_seconds(dataset, config, args)
            report['runs'][f'{dataset}/{config}'] = row
            print(f"{dataset:8s} {config:14s} median epoch "
                  f"{row['median_seconds']:.2f} s  {row['epoch_seconds']}",
                  flush=True)
    report['load_average_after'] = os.getloadavg()
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
