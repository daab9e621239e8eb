r"""Late fusion with EASE: every finished final run of a dataset, its
best-epoch scores fused with EASE's, the fusion weight chosen on validation.

For each run folder ``RUNS/<dataset>/<model>/seed<S>/`` written by
``benchmarks/bench_final.py`` (its checkpoint holds the best validation
state), :class:`~torch_geometric_infodcl.models.EASEFusion` fuses the run's
scores with those of EASE fitted on the same training graph, with EASE's L2
weight taken from the dataset's EASE study (``benchmarks/configs/<dataset>/
ease.yaml``, chosen on validation), so the fusion adds no tuning beyond the
weight grid; :class:`~torch_geometric_infodcl.train.Trainer` scores every
weight of the grid on validation (weight 0 is the run alone) and tests only
the best. Every model gets the same fusion, so the table says whether a
model's lead survives it.

Writes ``OUT/<dataset>/<model>/seed<S>/results.json`` (the trainer's report,
the weight chosen, the run's own test metrics) and ``OUT/<dataset>/
summary.md`` / ``summary.json``::

    python benchmarks/bench_fusion.py --dataset office --threads 1
    python benchmarks/bench_fusion.py --dataset ml-1m --models graph-infodcl
    python benchmarks/bench_fusion.py --dataset office --summary-only

Finished seeds (an existing ``results.json``) are kept; runs whose folder
holds no checkpoint (it is not committed) are reported and skipped.
"""
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import torch

import bench_final
import common
from torch_geometric_infodcl.experiment import (
    fuse_with_ease,
    load_run,
    script_main,
)
from torch_geometric_infodcl.options import read_config_file
from torch_geometric_infodcl.run_folder import CHECKPOINT_FILE, RESULTS_FILE

NAME = 'fusion'
DEFAULT_RUNS = bench_final.DEFAULT_OUT
DEFAULT_OUT = osp.join(common.RESULTS_DIR, 'fusion')
CLOSED_FORM = ('ease', )  # nothing to fuse EASE with but itself


def ease_l2_weight(config_dir: str, dataset: str) -> float:
    r"""EASE's L2 weight chosen by the dataset's study."""
    path = osp.join(config_dir, dataset, 'ease.yaml')
    if not osp.isfile(path):
        raise FileNotFoundError(f"no EASE configuration '{path}' (run "
                                f"benchmarks/tune.py --model ease first)")
    weight = read_config_file(path).get('l2_weight')
    if isinstance(weight, list):
        raise ValueError(f"'{path}' holds a grid of L2 weights; the fusion "
                         f"takes the one chosen on validation")
    return float(weight)


def fuse_run(run: str, out_dir: str, l2_weight: float) -> dict:
    r"""Fuses the finished run in :obj:`run` with EASE and writes
    :obj:`out_dir`/results.json."""
    path = osp.join(out_dir, RESULTS_FILE)
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    print(f'fusing {common.repo_relative(run)}', flush=True)
    start = time.perf_counter()
    result = fuse_with_ease(load_run(run), l2_weight)
    with open(osp.join(run, RESULTS_FILE)) as f:
        base = json.load(f)
    # The run's own report and the recomputed test must agree.
    if abs(base['test']['recall@20'] - result['base_test']['recall@20']) \
            > 1e-6:
        raise ValueError(f"'{run}': its checkpoint does not reproduce its "
                         f"{RESULTS_FILE} (test recall@20 "
                         f"{result['base_test']['recall@20']:.6f} against "
                         f"{base['test']['recall@20']:.6f})")
    result.update(
        base_run=common.repo_relative(run),
        config=dict(seed=base['config']['seed'], model=base['model']),
        wall_seconds=time.perf_counter() - start,
        loadavg=common.load_average(), machine=common.machine_info())
    common.write_json(path, result)
    return result


def summarise(runs: Dict[str, List[dict]]) -> Dict[str, dict]:
    rows = {}
    for model, results in runs.items():
        rows[model] = dict(
            seeds=[r['config']['seed'] for r in results],
            base_test_recall=bench_final.mean_std(
                [r['base_test']['recall@20'] for r in results]),
            test_recall=bench_final.mean_std(
                [r['test']['recall@20'] for r in results]),
            test_ndcg=bench_final.mean_std(
                [r['test']['ndcg@20'] for r in results]),
            valid_recall=bench_final.mean_std(
                [r['valid']['recall@20'] for r in results]),
            weights=[r['selected']['weight'] for r in results],
        )
    return rows


def summary_lines(dataset: str, rows: Dict[str, dict],
                  ease: Optional[dict]) -> List[str]:
    reference = rows.get(bench_final.REFERENCE_MODEL)
    ref = None if reference is None else reference['base_test_recall']['mean']
    lines = [
        f'| {dataset} + EASE | seeds | run alone: test R@20 | fused: test '
        f'R@20 | fused: test N@20 | fused: valid R@20 | weights chosen | '
        f'R@20 / {bench_final.REFERENCE_MODEL} alone |',
        '|---|---:|---:|---:|---:|---:|---|---:|',
    ]
    for model in sorted(rows, key=lambda m: -rows[m]['test_recall']['mean']):
        r = rows[model]
        ratio = f"{r['test_recall']['mean'] / ref:.3f}" if ref else '-'
        lines.append(
            f"| {model} | {len(r['seeds'])} | "
            f"{r['base_test_recall']['mean']:.4f} +- "
            f"{r['base_test_recall']['std']:.4f} | "
            f"{r['test_recall']['mean']:.4f} +- {r['test_recall']['std']:.4f}"
            f" | {r['test_ndcg']['mean']:.4f} +- {r['test_ndcg']['std']:.4f}"
            f" | {r['valid_recall']['mean']:.4f} | "
            f"{', '.join(f'{w:g}' for w in r['weights'])} | {ratio} |")
    if ease is not None:
        ratio = f"{ease['test_recall']['mean'] / ref:.3f}" if ref else '-'
        lines.append(
            f"| ease alone | {len(ease['seeds'])} | "
            f"{ease['test_recall']['mean']:.4f} | - | "
            f"{ease['test_ndcg']['mean']:.4f} | "
            f"{ease['valid_recall']['mean']:.4f} | - | {ratio} |")
    return lines


def write_summary(dataset: str, out: str, runs_dir: str) -> str:
    runs = bench_final.collect(dataset, out)
    rows = summarise(runs)
    ease = bench_final.summarise(bench_final.collect(dataset, runs_dir)).get(
        'ease')
    lines = summary_lines(dataset, rows, ease)
    folder = osp.join(out, dataset)
    common.write_json(osp.join(folder, 'summary.json'),
                      dict(dataset=dataset, rows=rows, ease=ease))
    text = '\n'.join(lines) + '\n'
    common.write_text(osp.join(folder, 'summary.md'), text)
    return text


def main(argv: Optional[Sequence[str]] = None) -> str:
    p = common.parser(__doc__, NAME, data=False, out_help=(
        'results folder (default: benchmarks/results/fusion)'))
    p.add_argument('--dataset', default='office')
    p.add_argument('--models', default=None,
                   help='comma-separated models (default: every model with '
                        'final runs, EASE excepted)')
    p.add_argument('--seeds', type=int, nargs='+', default=None,
                   help='seeds to fuse (default: every finished one)')
    p.add_argument('--runs', default=DEFAULT_RUNS,
                   help='the final runs to fuse (default: '
                        'benchmarks/results/final)')
    p.add_argument('--config-dir', default=bench_final.CONFIG_DIR,
                   help="where the dataset's ease.yaml is (default: "
                        "benchmarks/configs)")
    p.add_argument('--summary-only', action='store_true')
    args = p.parse_args(argv)
    if args.quick:
        p.error('bench_fusion.py has no --quick mode: it fuses the final runs '
                'as they are')
    args.out = args.out or DEFAULT_OUT
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = osp.join(args.runs, args.dataset)
    if not osp.isdir(folder):
        p.error(f"no final runs in '{folder}' (run benchmarks/bench_final.py "
                f"first)")
    if not args.summary_only:
        l2_weight = ease_l2_weight(args.config_dir, args.dataset)
        models = (args.models.split(',') if args.models else
                  [m for m in sorted(os.listdir(folder))
                   if osp.isdir(osp.join(folder, m))
                   and m not in CLOSED_FORM])
        seeds = None if args.seeds is None else {
            f'seed{s}' for s in args.seeds}
        for model in models:
            model_dir = osp.join(folder, model)
            if not osp.isdir(model_dir):
                p.error(f"no final runs of '{model}' in '{folder}'")
            for seed_dir in sorted(os.listdir(model_dir)):
                run = osp.join(model_dir, seed_dir)
                if seeds is not None and seed_dir not in seeds:
                    continue
                if not osp.isfile(osp.join(run, CHECKPOINT_FILE)):
                    print(f'skipped {common.repo_relative(run)}: no '
                          f'{CHECKPOINT_FILE}', flush=True)
                    continue
                fuse_run(run, osp.join(args.out, args.dataset, model,
                                       seed_dir), l2_weight)
    text = write_summary(args.dataset, args.out, args.runs)
    print(text)
    return text


if __name__ == '__main__':
    script_main(main)
