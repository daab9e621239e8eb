r"""Quality benchmark: InfoDCL, its ablations, MF-BPR and PyG's LightGCN under
one protocol (same split, same evaluator, selection on validation Recall@20,
test at the best validation epoch).

Every run is one call of ``examples/train_infodcl.py`` in a subprocess, so the
numbers are exactly what a user gets from the CLI. Each run writes
``OUT/<dataset>/<variant>/results.json`` (with the run's peak memory) and
``run.json`` (command, wall time, machine); ``OUT/<dataset>/summary.md`` is
the table over all variants run so far. Several invocations may run side by
side on different variants.

    python benchmarks/bench_quality.py --dataset office
    python benchmarks/bench_quality.py --dataset ml-1m --variants infodcl,lightgcn
    python benchmarks/bench_quality.py --summary-only   # rebuild summary.md
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(ROOT, 'examples', 'train_infodcl.py')
DEFAULT_OUT = osp.join(ROOT, 'benchmarks', 'results', 'quality')

# Where each dataset's raw files are under --data-root.
RAW_DIRS = {
    'office': 'office',
    'ml-1m': 'ml-1m',
    'baby': 'baby',
    'gowalla': 'gowalla',
}

# The same optimiser protocol for every model; what differs is the model.
LIGHTGCN = ['--model', 'lightgcn', '--layers', '3', '--lr', '0.002',
            '--batch-size', '2048', '--baseline-reg', '1e-4']
MF = ['--model', 'mf', '--layers', '2', '--lr', '0.002', '--batch-size',
      '2048', '--baseline-reg', '1e-4']

VARIANTS = {
    # The authors' Office settings (the CLI defaults).
    'infodcl': [],
    'infodcl-no-psnet': ['--no-psnet'],
    'infodcl-no-balance': ['--no-balance'],
    'infodcl-no-propagation': ['--no-propagation'],
    'infodcl-authors-loss': ['--authors-loss'],
    'infodcl-bf16': ['--bf16'],
    # Our extension: LightGCN propagation inside the training losses.
    'infodcl-graph': ['--train-layers', '3', '--layers', '3', '--lr',
                      '0.002', '--reg-weight', '1e-4'],
    'mf': MF,
    'lightgcn': LIGHTGCN,
}

# Per-dataset overrides of a variant's flags. PyG's LightGCN propagates the
# whole ML-1M graph (1.4M directed edges) at every step: batch 8192 keeps an
# epoch affordable on 2 CPU cores.
OVERRIDES = {
    ('ml-1m', 'lightgcn'): ['--batch-size', '8192', '--lr', '0.005'],
}

# Per-dataset protocol: evaluation period and patience (in evaluations).
PROTOCOL = {
    'office': ['--eval-every', '5', '--patience', '6', '--epochs', '400'],
    'ml-1m': ['--eval-every', '2', '--patience', '3', '--epochs', '30'],
    'baby': ['--eval-every', '5', '--patience', '6', '--epochs', '300'],
    'gowalla': ['--eval-every', '5', '--patience', '5', '--epochs', '400'],
}


def machine() -> dict:
    # torch is imported here only: a parent holding torch would inflate its
    # children's ru_maxrss.
    import torch
    from bench_data import cpu_model
    return dict(platform=platform.platform(), cpu=cpu_model(),
                cores=os.cpu_count(), torch=torch.__version__,
                cuda=torch.cuda.get_device_name(0)
                if torch.cuda.is_available() else None)


def run_variant(dataset: str, variant: str, args) -> dict:
    out_dir = osp.join(args.out, dataset, variant + args.suffix)
    if osp.isdir(out_dir):
        # A fresh run; the trainer refuses to overwrite a checkpoint.
        for name in os.listdir(out_dir):
            os.remove(osp.join(out_dir, name))
    cmd = [sys.executable, SCRIPT, '--dataset', dataset, '--root',
           args.root, '--seed', str(args.seed), '--output', out_dir,
           '--no-progress', '--device', args.device]
    if dataset in RAW_DIRS:
        cmd += ['--raw-dir', osp.join(args.data_root, RAW_DIRS[dataset])]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if dataset == 'office' and variant == 'infodcl':
        cmd += ['--reference-protocol']
    cmd += (PROTOCOL.get(dataset, []) + VARIANTS[variant] +
            OVERRIDES.get((dataset, variant), []) + args.extra)
    print(' '.join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log, _ = proc.communicate()
    wall = time.perf_counter() - start
    with open(osp.join(out_dir, 'log.txt'), 'w') as f:
        f.write(log)
    if proc.returncode != 0:
        raise RuntimeError(f'{variant} on {dataset} failed:\n{log[-3000:]}')
    with open(osp.join(out_dir, 'results.json')) as f:
        result = json.load(f)
    run = dict(variant=variant, command=' '.join(cmd), wall_seconds=wall,
               threads=args.threads, machine=machine())
    with open(osp.join(out_dir, 'run.json'), 'w') as f:
        json.dump(run, f, indent=2)
    return result


def write_summary(dataset: str, out: str):
    folder = osp.join(out, dataset)
    rows = []
    for variant in sorted(os.listdir(folder)):
        path = osp.join(folder, variant, 'results.json')
        if osp.isfile(path):
            with open(path) as f:
                result = json.load(f)
            rows.append((variant, result))
    lines = [
        f'| {dataset} | test R@20 | test N@20 | valid R@20 | best epoch | '
        f'time to best (s) | s / epoch | peak RSS (MB) |',
        '|---|---:|---:|---:|---:|---:|---:|---:|',
    ]
    for variant, r in rows:
        lines.append(
            f"| {variant} | {r['test']['recall@20']:.4f} | "
            f"{r['test']['ndcg@20']:.4f} | {r['valid']['recall@20']:.4f} | "
            f"{r['best_epoch']} | {r['time_to_best_seconds']:.0f} | "
            f"{r['epoch_seconds_median']:.2f} | "
            f"{r.get('peak_rss_mb', float('nan')):.0f} |")
    for variant, r in rows:
        ref = r.get('reference_protocol')
        if ref:
            best = ref['best']
            lines.append(
                f"\n{variant} under the authors' protocol (best TEST epoch "
                f"{best['epoch']}, validation items unmasked, batch-averaged;"
                f" optimistic, for comparison only): R@20 "
                f"{best['recall@20']:.4f}, N@20 {best['ndcg@20']:.4f}")
    with open(osp.join(folder, 'summary.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--dataset', default='office')
    p.add_argument('--variants', default=','.join(VARIANTS))
    p.add_argument('--data-root', default=osp.join(ROOT, '..', 'shared',
                                                   'data'))
    p.add_argument('--root', default=osp.join(ROOT, 'data'))
    p.add_argument('--out', default=DEFAULT_OUT)
    p.add_argument('--seed', type=int, default=2024)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--device', default='cpu')
    p.add_argument('--summary-only', action='store_true')
    p.add_argument('--suffix', default='',
                   help='appended to the output folder name of each run '
                   '(for tuning runs with extra flags)')
    p.add_argument('extra', nargs=argparse.REMAINDER,
                   help='further CLI flags passed to every run (after --)')
    args = p.parse_args()
    args.extra = [a for a in args.extra if a != '--']
    if not args.summary_only:
        variants = [v for v in args.variants.split(',') if v]
        unknown = set(variants) - set(VARIANTS)
        if unknown:
            p.error(f'unknown variants {sorted(unknown)}; valid: '
                    f'{", ".join(VARIANTS)}')
        for variant in variants:
            result = run_variant(args.dataset, variant, args)
            print(f"{variant}: test recall@20 "
                  f"{result['test']['recall@20']:.4f} ndcg@20 "
                  f"{result['test']['ndcg@20']:.4f} (best epoch "
                  f"{result['best_epoch']})", flush=True)
    print(write_summary(args.dataset, args.out))


if __name__ == '__main__':
    main()
