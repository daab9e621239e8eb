r"""Final runs: every tuned configuration of a dataset with several seeds,
under one protocol, summarised as mean and standard deviation.

For each ``benchmarks/configs/<dataset>/<model>.yaml`` written by
``benchmarks/tune.py`` (chosen on validation Recall@20 only) and each seed,
one call of ``examples/train_infodcl.py --config FILE --seed S`` trains the
model, selects its epoch on validation and scores test once at that epoch.
Runs are resumable: a seed whose ``results.json`` exists is kept, one whose
folder holds a checkpoint is continued with ``--resume``, so a killed
invocation is simply started again.

Writes ``OUT/<dataset>/<model>/seed<S>/`` (the CLI's run folder plus
``run.json``: command, wall seconds, load average before and after),
``OUT/<dataset>/summary.md`` / ``summary.json`` (test Recall@20 / NDCG@20 as
mean +- sample standard deviation over seeds, validation Recall@20, best
epoch, training seconds to the best epoch, seconds per epoch, and training
seconds until validation Recall@20 first reaches the reference model's mean
best validation Recall@20) and
``OUT/<dataset>/curves.png`` (validation Recall@20 against cumulative
training seconds, one colour per model, one line per seed)::

    python benchmarks/bench_final.py --dataset office --threads 1
    python benchmarks/bench_final.py --dataset office --models lightgcn,ease
    python benchmarks/bench_final.py --dataset office --summary-only

Training seconds are what each run measured; runs made side by side with
other jobs are slower than alone (``run.json`` keeps the load average), so
compare speed with ``benchmarks/bench_epoch.py`` on an idle machine.
"""
import json
import os
import os.path as osp
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence

import common
from torch_geometric_infodcl.checkpoint import atomic_write

NAME = 'final'
CONFIG_DIR = osp.join(common.REPO_ROOT, 'benchmarks', 'configs')
DEFAULT_OUT = osp.join(common.RESULTS_DIR, 'final')
DEFAULT_SEEDS = (2024, 2025, 2026)
RESULTS_FILE = 'results.json'
REFERENCE_MODEL = 'lightgcn'  # the ratio column is taken against it
# <dataset>/infodcl.yaml is the InfoDCL configuration the README recommends
# for the dataset: a copy of another file (tested), run only when named.
RECOMMENDED = 'infodcl'


def configs(config_dir: str, dataset: str) -> Dict[str, str]:
    r"""The configuration file of every model of :obj:`dataset`, by name
    (:obj:`RECOMMENDED` included)."""
    folder = osp.join(config_dir, dataset)
    if not osp.isdir(folder):
        raise FileNotFoundError(f"no tuned configurations in '{folder}' "
                                f"(run benchmarks/tune.py first)")
    return {
        name[:-len('.yaml')]: osp.join(folder, name)
        for name in sorted(os.listdir(folder)) if name.endswith('.yaml')
    }


def default_models(files: Dict[str, str]) -> List[str]:
    r"""What runs without :obj:`--models`: every configuration but the
    :obj:`RECOMMENDED` copy, which would repeat another one's runs."""
    return [name for name in files if name != RECOMMENDED]


def run_seed(config: str, out_dir: str, seed: int,
             args) -> Optional[dict]:
    results = osp.join(out_dir, RESULTS_FILE)
    if osp.isfile(results):
        with open(results) as f:
            return json.load(f)
    cmd = [sys.executable, common.CLI, '--config', common.repo_relative(config),
           '--seed', str(seed), '--output', common.repo_relative(out_dir),
           '--root', common.repo_relative(args.root), '--no-progress']
    if osp.isfile(osp.join(out_dir, 'checkpoint.pt')):
        cmd.append('--resume')
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    command = common.display_command(cmd)
    print(command, flush=True)
    load_before = common.load_average()
    start = time.perf_counter()
    proc = common.run_cli(cmd)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"'{command}' failed:\n{proc.stdout[-3000:]}")
    common.write_text(osp.join(out_dir, 'log.txt'),
                      common.relative_text(proc.stdout))
    common.write_json(osp.join(out_dir, 'run.json'), dict(
        command=command, wall_seconds=wall, threads=args.threads,
        loadavg_before=load_before, loadavg_after=common.load_average(),
        time=time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        machine=common.machine_info()))
    with open(results) as f:
        return json.load(f)


def collect(dataset: str, out: str) -> Dict[str, List[dict]]:
    r"""Every finished seed of every model under :obj:`out`/:obj:`dataset`."""
    folder = osp.join(out, dataset)
    runs: Dict[str, List[dict]] = {}
    models = sorted(os.listdir(folder)) if osp.isdir(folder) else []
    for model in filter(lambda m: osp.isdir(osp.join(folder, m)), models):
        for seed_dir in sorted(os.listdir(osp.join(folder, model))):
            path = osp.join(folder, model, seed_dir, RESULTS_FILE)
            if osp.isfile(path):
                with open(path) as f:
                    runs.setdefault(model, []).append(json.load(f))
    return runs


def mean_std(values: Sequence[float]) -> Dict[str, float]:
    return dict(mean=statistics.fmean(values),
                std=statistics.stdev(values) if len(values) > 1 else 0.0,
                values=list(values))


def seconds_to_reach(result: dict, target: float) -> Optional[float]:
    r"""Cumulative training seconds (evaluation excluded) at the first
    evaluation whose validation Recall@20 reaches :obj:`target`, or
    :obj:`None` if the run never does."""
    seconds = result['epoch_seconds']
    for row in result['history']:
        if row['valid']['recall@20'] >= target:
            return sum(seconds[:row['epoch']])
    return None


def time_to_reference(results: List[dict], target: float) -> dict:
    r"""How long each run takes to match :obj:`target` (the reference
    model's mean best validation Recall@20): the mean over the runs that
    reach it, and how many do."""
    times = [seconds_to_reach(r, target) for r in results]
    reached = [t for t in times if t is not None]
    return dict(mean=statistics.fmean(reached) if reached else None,
                reached=len(reached), runs=len(times), values=times)


def summarise(runs: Dict[str, List[dict]]) -> Dict[str, dict]:
    rows = {}
    target = None
    if REFERENCE_MODEL in runs:
        target = statistics.fmean(r['valid']['recall@20']
                                  for r in runs[REFERENCE_MODEL])
    for model, results in runs.items():
        rows[model] = dict(
            seeds=[r['config']['seed'] for r in results],
            test_recall=mean_std([r['test']['recall@20'] for r in results]),
            test_ndcg=mean_std([r['test']['ndcg@20'] for r in results]),
            valid_recall=mean_std([r['valid']['recall@20'] for r in results]),
            best_epoch=mean_std([r['best_epoch'] for r in results]),
            time_to_best=mean_std([r['time_to_best_seconds']
                                   for r in results]),
            epoch_seconds=mean_std([r['epoch_seconds_median']
                                    for r in results]),
        )
        if target is not None:
            rows[model]['time_to_reference'] = time_to_reference(results,
                                                                 target)
    return rows


def reference_time_cell(row: dict) -> str:
    reach = row.get('time_to_reference')
    if reach is None:
        return '-'
    if reach['mean'] is None:
        return 'never'
    partial = ('' if reach['reached'] == reach['runs'] else
               f" ({reach['reached']} of {reach['runs']} runs)")
    return f"{reach['mean']:.0f}{partial}"


def summary_lines(dataset: str, rows: Dict[str, dict]) -> List[str]:
    ref = rows.get(REFERENCE_MODEL, {}).get('test_recall', {}).get('mean')
    lines = [
        f'| {dataset} | seeds | test R@20 | test N@20 | valid R@20 | '
        f'R@20 / {REFERENCE_MODEL} | best epoch | train s to best | '
        f's / epoch | train s to {REFERENCE_MODEL} best valid |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ]
    order = sorted(rows, key=lambda m: -rows[m]['test_recall']['mean'])
    for model in order:
        r = rows[model]
        ratio = (f"{r['test_recall']['mean'] / ref:.3f}" if ref else '-')
        lines.append(
            f"| {model} | {len(r['seeds'])} | "
            f"{r['test_recall']['mean']:.4f} +- {r['test_recall']['std']:.4f}"
            f" | {r['test_ndcg']['mean']:.4f} +- {r['test_ndcg']['std']:.4f}"
            f" | {r['valid_recall']['mean']:.4f} | {ratio} | "
            f"{r['best_epoch']['mean']:.0f} | "
            f"{r['time_to_best']['mean']:.0f} | "
            f"{r['epoch_seconds']['mean']:.2f} | {reference_time_cell(r)} |")
    return lines


def plot_curves(dataset: str, runs: Dict[str, List[dict]], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for index, (model, results) in enumerate(sorted(runs.items())):
        colour = colours[index % len(colours)]
        for n, result in enumerate(results):
            seconds = result['epoch_seconds']
            xs = [sum(seconds[:row['epoch']]) for row in result['history']]
            ys = [row['valid']['recall@20'] for row in result['history']]
            ax.plot(xs, ys, color=colour, alpha=0.8, marker='.',
                    label=model if n == 0 else None)
    ax.set_xlabel('cumulative training seconds (evaluation excluded)')
    ax.set_ylabel('validation Recall@20')
    ax.set_title(f'{dataset}: validation Recall@20 against training time')
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, dpi=110, format='png'))
    plt.close(fig)


def write_summary(dataset: str, out: str) -> str:
    runs = collect(dataset, out)
    if not runs:
        raise FileNotFoundError(f"no finished runs of '{dataset}' under "
                                f"'{common.repo_relative(out)}'")
    rows = summarise(runs)
    text = '\n'.join(summary_lines(dataset, rows))
    folder = osp.join(out, dataset)
    common.write_text(osp.join(folder, 'summary.md'), text + '\n')
    common.write_json(osp.join(folder, 'summary.json'), dict(
        dataset=dataset, reference_model=REFERENCE_MODEL, models=rows))
    plot_curves(dataset, runs, osp.join(folder, 'curves.png'))
    return text


def main(argv: Optional[Sequence[str]] = None) -> str:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = common.parser(__doc__, NAME, data=False, out_help=(
        'results folder (default: benchmarks/results/final)'))
    p.add_argument('--dataset', default='office')
    p.add_argument('--models', default=None,
                   help='comma-separated (default: every configuration in '
                   'benchmarks/configs/<dataset>/)')
    p.add_argument('--config-dir', default=CONFIG_DIR,
                   help='folder of <dataset>/<model>.yaml files (default: '
                   'benchmarks/configs)')
    p.add_argument('--seeds', type=int, nargs='+', default=DEFAULT_SEEDS)
    p.add_argument('--root', default=None,
                   help='dataset cache root (default: data)')
    p.add_argument('--summary-only', action='store_true')
    args = p.parse_args(argv)
    if args.quick:
        p.error('bench_final.py has no --quick mode: it runs the tuned '
                'configurations as they are')
    args.out = args.out or DEFAULT_OUT
    args.root = args.root or common.default_root(False)
    if not args.summary_only:
        files = configs(args.config_dir, args.dataset)
        models = common.choices(p, args.models or
                                ','.join(default_models(files)), files,
                                '--models')
        for model in models:
            for seed in args.seeds:
                out_dir = osp.join(args.out, args.dataset, model,
                                   f'seed{seed}')
                result = run_seed(files[model], out_dir, seed, args)
                print(f"{model} seed {seed}: test recall@20 "
                      f"{result['test']['recall@20']:.4f} (best epoch "
                      f"{result['best_epoch']})", flush=True)
    text = write_summary(args.dataset, args.out)
    print(text)
    return text


if __name__ == '__main__':
    main()
