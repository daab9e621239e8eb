r"""Quality benchmark: InfoDCL, its ablations, MF-BPR and PyG's LightGCN under
one protocol (same split, same evaluator, selection on validation Recall@20,
test at the best validation epoch).

Every run is one call of ``examples/train_infodcl.py`` in a subprocess, run
from the repository root with repository-relative paths, so the numbers are
exactly what a user gets from the CLI and no file stores an absolute path.
Each run writes ``OUT/<dataset>/<variant>/results.json`` (the CLI's, with
the run's peak memory), ``run.json`` (keys :obj:`RUN_KEYS`: the variant,
the command, wall time, threads, ``quick``, the time and the machine) and
``log.txt`` (the run's output); ``OUT/<dataset>/summary.md`` is the table
over all variants run so far. Several invocations may run side by side on
different variants. ``--quick`` trains the synthetic dataset (unless
``--dataset`` is given) for 2 epochs with MF-BPR only (unless
``--variants`` is given), into the temporary folder.

    python benchmarks/bench_quality.py --dataset office
    python benchmarks/bench_quality.py --dataset ml-1m \
        --variants infodcl,lightgcn
    python benchmarks/bench_quality.py --summary-only   # rebuild summary.md
"""
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

import common

RUN_KEYS = ('variant', 'command', 'wall_seconds', 'threads', 'quick', 'time',
            'machine')
DEFAULT_OUT = osp.join(common.RESULTS_DIR, 'quality')
QUICK_OUT = osp.join(common.QUICK_DIR, 'quality')

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
    'mf': common.MF,
    'lightgcn': common.LIGHTGCN,
}

# Per-dataset protocol: evaluation period and patience (in evaluations).
PROTOCOL = {
    'office': ['--eval-every', '5', '--patience', '6', '--epochs', '400'],
    'ml-1m': ['--eval-every', '2', '--patience', '3', '--epochs', '30'],
    'baby': ['--eval-every', '5', '--patience', '6', '--epochs', '300'],
    'gowalla': ['--eval-every', '5', '--patience', '5', '--epochs', '400'],
}
QUICK_PROTOCOL = ['--eval-every', '1', '--patience', '1', '--epochs', '2']


def run_variant(dataset: str, variant: str, args) -> dict:
    out_dir = osp.join(args.out, dataset, variant + args.suffix)
    if osp.isdir(out_dir):
        # A fresh run; the trainer refuses to overwrite a checkpoint.
        for name in os.listdir(out_dir):
            os.remove(osp.join(out_dir, name))
    # The authors' optimistic protocol, reported beside ours for comparison.
    reference = (dataset, variant) == ('office', 'infodcl')
    flags = ['--reference-protocol'] if reference else []
    protocol = QUICK_PROTOCOL if args.quick else PROTOCOL.get(dataset, [])
    flags += (protocol + VARIANTS[variant] +
              common.OVERRIDES.get((dataset, variant), []) + args.extra)
    cmd = common.cli_command(dataset, args.root, out_dir, args.data_root,
                             args.threads, flags, device=args.device,
                             seed=args.seed)
    command = common.display_command(cmd)
    print(command, flush=True)
    start = time.perf_counter()
    proc = common.run_cli(cmd)
    wall = time.perf_counter() - start
    common.write_text(osp.join(out_dir, 'log.txt'),
                      common.relative_text(proc.stdout))
    if proc.returncode != 0:
        raise RuntimeError(f'{variant} on {dataset} failed:\n'
                           f'{proc.stdout[-3000:]}')
    with open(osp.join(out_dir, 'results.json')) as f:
        result = json.load(f)
    run = dict(variant=variant, command=command, wall_seconds=wall,
               threads=args.threads, quick=args.quick,
               time=time.strftime('%Y-%m-%dT%H:%M:%S%z'),
               machine=common.machine_info())
    common.write_json(osp.join(out_dir, 'run.json'), run)
    return result


def summary_lines(dataset: str, rows: List) -> List[str]:
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
    return lines


def write_summary(dataset: str, out: str) -> str:
    folder = osp.join(out, dataset)
    if not osp.isdir(folder):
        raise FileNotFoundError(f"no runs of '{dataset}' under '{out}' "
                                f"(check --out and --dataset)")
    rows = []
    for variant in sorted(os.listdir(folder)):
        path = osp.join(folder, variant, 'results.json')
        if osp.isfile(path):
            with open(path) as f:
                rows.append((variant, json.load(f)))
    text = '\n'.join(summary_lines(dataset, rows))
    common.write_text(osp.join(folder, 'summary.md'), text + '\n')
    return text


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = common.parser(__doc__, 'quality', out_help=(
        f'results folder (default: benchmarks/results/quality; with --quick '
        f'{QUICK_OUT})'))
    p.add_argument('--dataset', default=None,
                   help='default: office; with --quick synthetic')
    p.add_argument('--variants', default=None,
                   help=f"comma-separated from {','.join(VARIANTS)} "
                   f"(default: all; with --quick mf)")
    p.add_argument('--root', default=None,
                   help='dataset cache root (default: data; with --quick a '
                   'folder in the temporary folder)')
    p.add_argument('--seed', type=int, default=2024)
    p.add_argument('--device', default='cpu')
    p.add_argument('--summary-only', action='store_true')
    p.add_argument('--suffix', default='',
                   help='appended to the output folder name of each run '
                   '(for tuning runs with extra flags)')
    p.add_argument('extra', nargs='*',
                   help='further CLI flags passed to every run (after --)')
    args = p.parse_args(argv)
    args.dataset = args.dataset or ('synthetic' if args.quick else 'office')
    args.out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    args.root = args.root or common.default_root(args.quick)
    args.data_root = osp.abspath(args.data_root)
    results = {}
    if not args.summary_only:
        variants = common.choices(
            p, args.variants or ('mf' if args.quick else
                                 ','.join(VARIANTS)), VARIANTS, '--variants')
        for variant in variants:
            result = results[variant] = run_variant(args.dataset, variant,
                                                    args)
            print(f"{variant}: test recall@20 "
                  f"{result['test']['recall@20']:.4f} ndcg@20 "
                  f"{result['test']['ndcg@20']:.4f} (best epoch "
                  f"{result['best_epoch']})", flush=True)
    print(write_summary(args.dataset, args.out))
    return results


if __name__ == '__main__':
    main()
