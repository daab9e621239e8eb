r"""How InfoDCL's epoch time and peak memory grow with the data (CPU).

InfoDCL on synthetic data of 1e4 ... 1e7 interactions, with the
full-catalogue InfoNCE (``negatives='full'``) and with 1,024 shared sampled
candidates (``negatives=1024``). Sizes: ``num_users = N / 25`` (the
generator's mean degree 25), ``num_items = 12 * sqrt(N)``. Data come from
:func:`generate_synthetic` while ``num_users * num_items`` (its Gumbel-top-k
work) stays below ``--max-synthetic-cells``; above it the same degree and
Zipf-popularity laws are sampled without the preference term by vectorised
rejection (see :func:`popularity_interactions`), the interactions are split
per user the same way, and the time :func:`generate_synthetic` would have
taken is extrapolated from the largest size it ran.

The epoch time is **measured** where an epoch fits in
``--max-epoch-seconds``: after ``--steps`` timed steps (which give the
per-step figure and a first estimate), one complete epoch is run as the
trainer runs it (shuffling and negative sampling, every batch including the
last partial one, Adam) and its wall-clock time is the figure
(``epoch_time_method: measured``). Where the estimate exceeds the bound the
epoch is **estimated from steps**: ``ceil(E_train / B)`` (the epoch's exact
step count) times the median of the timed steps plus the per-epoch
shuffling and negative sampling (``epoch_time_method:
estimated_from_steps``). The slopes are fitted over all sizes and, apart,
over the measured ones only. Adam's step alone is also timed: it updates
the whole user and item tables, so its cost grows with the tables (the
users grow with the interactions here), not with the batch.
Every (size, variant) runs in its own subprocess, which reports its peak
resident memory (:func:`~torch_geometric_infodcl.profile.peak_rss_mb`). A
configuration whose ``[B, num_candidates]`` logit matrices would take more
than a quarter of the available memory is skipped and recorded as such. The
log-log slope of the epoch time against the training interactions is fitted
with :func:`numpy.polyfit` per variant and plotted to ``scaling.png`` beside
the JSON.

Writes ``benchmarks/results/scaling.json``: the header of :mod:`common` and
``scaling`` (the section of the former ``bench_speed.py``: the rules,
``rows`` with one entry per size and its ``variants``, ``slopes``,
``plot``)::

    python benchmarks/bench_scaling.py [--threads 2] [--quick] \
        [--sizes 1e4 1e5] [--steps 10]
"""
import argparse
import itertools
import math
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

import common
from torch_geometric_infodcl.checkpoint import atomic_write
from torch_geometric_infodcl.data import NegativeSampler
from torch_geometric_infodcl.datasets.preprocess import split_per_user
from torch_geometric_infodcl.datasets.synthetic import generate_synthetic
from torch_geometric_infodcl.models import InfoDCL
from torch_geometric_infodcl.typing import EDGE_TYPE

NAME = 'scaling'
STUDY_KEYS = ('scaling', )
BATCH_SIZE, DIM = 2000, 64
AVG_DEGREE = 25  # generate_synthetic's default mean user degree
ITEMS_PER_SQRT = 12  # num_items = 12 * sqrt(interactions)
SAMPLED_NEGATIVES = 1024
NUM_CHANNELS = 2
# Per channel the full InfoNCE keeps one [B, C] float32 exponent matrix for
# backward; the GEMM output and one transient can coexist with it.
LOGIT_COPIES = 3
MEMORY_FRACTION = 0.25  # "fits comfortably": a quarter of MemAvailable
MAX_REDRAW_ROUNDS = 50
SETTINGS = {
    'full': dict(sizes=[10**4, 10**5, 10**6, 10**7], steps=10, warmup=3,
                 epoch_setup_runs=3, max_synthetic_cells=1e9,
                 max_epoch_seconds=900.0),
    'quick': dict(sizes=[10**4], steps=1, warmup=1, epoch_setup_runs=1,
                  max_synthetic_cells=1e6, max_epoch_seconds=60.0),
}


def scaling_size(interactions: int) -> Tuple[int, int]:
    r"""(num_users, num_items) for a target number of interactions."""
    return (max(1, round(interactions / AVG_DEGREE)),
            round(ITEMS_PER_SQRT * math.sqrt(interactions)))


def _duplicate_mask(user: np.ndarray, item: np.ndarray,
                    num_items: int) -> np.ndarray:
    key = user * num_items + item
    _, first = np.unique(key, return_index=True)
    duplicate = np.ones(key.size, dtype=bool)
    duplicate[first] = False
    return duplicate


def popularity_interactions(num_users: int, num_items: int, avg_degree: float,
                            seed: int) -> Tuple[np.ndarray, np.ndarray]:
    r"""Interactions with :func:`generate_synthetic`'s degree law (log-normal
    activity, clipped to ``[3, num_items // 2]``) and Zipf item popularity
    (exponent 1), without the planted-preference term: every user draws its
    items from the popularity alone, with replacement, and duplicates are
    redrawn in vectorised rounds. :math:`O(E \log E)` instead of the
    generator's :math:`O(|U| \cdot |I|)` Gumbel-top-k; training cost does
    not depend on which items a user picked. Only the users that still hold
    duplicates are re-checked in later rounds (the heavy users; their
    duplicates decay geometrically), the rest are never touched again."""
    rng = np.random.default_rng(seed)
    popularity = (rng.permutation(num_items) + 1.0)**-1.0
    popularity /= popularity.sum()
    activity = rng.lognormal(0.0, 0.5, size=num_users)
    activity /= activity.mean()
    max_degree = max(1, num_items // 2)
    degree = np.clip(np.rint(avg_degree * activity), min(3, max_degree),
                     max_degree).astype(np.int64)
    user = np.repeat(np.arange(num_users, dtype=np.int64), degree)
    item = rng.choice(num_items, size=user.size, p=popularity)
    rows = np.arange(user.size)  # rows of the users still being checked
    for _ in range(MAX_REDRAW_ROUNDS):
        duplicate = _duplicate_mask(user[rows], item[rows], num_items)
        if not duplicate.any():
            return user, item
        redraw = rows[duplicate]
        item[redraw] = rng.choice(num_items, size=redraw.size, p=popularity)
        rows = rows[np.isin(user[rows], user[redraw])]
    # Rare leftovers after the last round are dropped.
    keep = np.ones(user.size, dtype=bool)
    keep[rows[_duplicate_mask(user[rows], item[rows], num_items)]] = False
    return user[keep], item[keep]


def build_interactions(interactions: int, max_cells: float,
                       largest_generated: Optional[Dict]) -> Tuple[Tensor,
                                                                   Dict]:
    r"""The training ``edge_index`` of one scaling size and how it was
    made."""
    num_users, num_items = scaling_size(interactions)
    cells = num_users * num_items
    info = dict(target_interactions=interactions, num_users=num_users,
                num_items=num_items, user_item_cells=cells)
    start = time.perf_counter()
    if cells <= max_cells:
        data = generate_synthetic(num_users, num_items, avg_degree=AVG_DEGREE,
                                  feature_dim=0, seed=0)
        store = data[EDGE_TYPE]
        edge_index = store.edge_index
        total = (edge_index.size(1) + store.val_edge_index.size(1) +
                 store.test_edge_index.size(1))
        info.update(generator='generate_synthetic',
                    generate_synthetic_seconds=time.perf_counter() - start)
    else:
        user, item = popularity_interactions(num_users, num_items, AVG_DEGREE,
                                             seed=0)
        train, _, _ = split_per_user(user, item, seed=0)
        edge_index = torch.from_numpy(np.ascontiguousarray(train.T))
        total = user.size
        info.update(generator='popularity_interactions (vectorised '
                    'fallback, no preference term) + split_per_user',
                    generator_seconds=time.perf_counter() - start)
        if largest_generated is not None:
            # generate_synthetic's cost is dominated by its U x I Gumbel-top-k.
            info['generate_synthetic_seconds_extrapolated'] = (
                largest_generated['generate_synthetic_seconds'] * cells /
                largest_generated['user_item_cells'])
            info['extrapolated_from_interactions'] = largest_generated[
                'target_interactions']
    info.update(interactions=int(total),
                train_interactions=int(edge_index.size(1)))
    return edge_index, info


def logit_bytes(num_candidates: int) -> int:
    return NUM_CHANNELS * LOGIT_COPIES * BATCH_SIZE * num_candidates * 4


# One (size, variant) in a fresh process ######################################


def child_command(edges_path: str, info: Dict, negatives: Union[str, int],
                  cfg: Dict, threads: int) -> List[str]:
    return [
        sys.executable, osp.abspath(__file__), '--child', '--edges',
        edges_path, '--num-users', str(info['num_users']), '--num-items',
        str(info['num_items']), '--negatives', str(negatives), '--steps',
        str(cfg['steps']), '--warmup', str(cfg['warmup']),
        '--epoch-setup-runs', str(cfg['epoch_setup_runs']), '--threads',
        str(threads), '--max-epoch-seconds', str(cfg['max_epoch_seconds'])
    ]


def child(args: argparse.Namespace) -> None:
    r"""Times one (size, variant) and answers with :func:`common.emit`."""
    torch.manual_seed(0)
    num_users, num_items = args.num_users, args.num_items
    negatives = (args.negatives if args.negatives == 'full' else
                 int(args.negatives))
    edge_index = torch.from_numpy(np.load(args.edges))
    start = time.perf_counter()
    sampler = NegativeSampler(edge_index, num_users, num_items)
    sampler_seconds = time.perf_counter() - start
    rss_before_model = common.peak_rss_mb()

    # Metadata values do not change the cost: two random 64-d channels.
    gen = torch.Generator().manual_seed(1)
    metadata = [torch.randn(num_items, DIM, generator=gen)
                for _ in range(NUM_CHANNELS)]
    model = InfoDCL(num_users, num_items, dim=DIM, metadata=metadata,
                    negatives=negatives)

    generator = torch.Generator().manual_seed(0)
    setup = common.timed(  # shuffle + sample all negatives of an epoch
        lambda: next(sampler.epoch_batches(BATCH_SIZE, generator)),
        args.epoch_setup_runs, warmup=0)
    batches = common.full_batches(sampler, BATCH_SIZE,
                                  args.warmup + args.steps + 1, generator)
    step_on = common.make_batch_step(model)
    cycle = itertools.cycle(batches)
    step = common.timed_steps(lambda: step_on(next(cycle)), args.steps,
                              'InfoDCL', warmup=args.warmup)
    adam = common.summary(common.timed(step_on.optimizer.step, args.steps))
    steps_per_epoch = sampler.num_batches(BATCH_SIZE)
    estimate = (steps_per_epoch * step['median_seconds'] +
                float(np.median(setup)))
    result = dict(
        negatives=negatives, model=repr(model),
        step=dict(step, warmup_steps=args.warmup), adam_step=adam,
        epoch_setup=common.summary(setup),
        sampler_build_seconds=sampler_seconds,
        steps_per_epoch=steps_per_epoch, epoch_seconds_estimate=estimate,
        peak_rss_mb_before_model=rss_before_model,
        torch_threads=torch.get_num_threads())
    if estimate <= args.max_epoch_seconds:
        start = time.perf_counter()
        for batch in sampler.epoch_batches(BATCH_SIZE, generator):
            step_on(batch)
        result.update(epoch_seconds=time.perf_counter() - start,
                      epoch_time_method='measured',
                      estimated_from_steps=False)
    else:
        result.update(epoch_seconds=estimate,
                      epoch_time_method='estimated_from_steps',
                      estimated_from_steps=True)
    common.emit(result)


# The study ###################################################################


def _fit(points: List[Tuple[int, float]]) -> Dict:
    if len(points) < 2:
        return dict(slope=None, num_points=len(points),
                    reason='fewer than 2 sizes')
    x, y = np.log10(np.array(points, dtype=np.float64)).T
    slope, intercept = np.polyfit(x, y, 1)
    return dict(slope=float(slope), intercept_log10=float(intercept),
                num_points=len(points))


def fit_slopes(rows: List[Dict], variants: List[str]) -> Dict[str, Dict]:
    r"""Log-log slope of the epoch time per variant, over every size and
    over the sizes whose epoch was measured (``measured_only``)."""
    slopes = {}
    for variant in variants:
        results = [(row['train_interactions'], row['variants'][variant])
                   for row in rows
                   if row['variants'][variant]['status'] == 'ok']
        fit = _fit([(n, r['epoch_seconds']) for n, r in results])
        fit['measured_only'] = _fit([
            (n, r['epoch_seconds']) for n, r in results
            if r['epoch_time_method'] == 'measured'])
        slopes[variant] = fit
    return slopes


def measure_variant(path: str, info: Dict, negatives: Union[str, int],
                    cfg: Dict, threads: int) -> Dict:
    candidates = info['num_items'] if negatives == 'full' else negatives
    need = logit_bytes(candidates)
    available = common.mem_bytes('MemAvailable')
    if need > MEMORY_FRACTION * available:
        result = dict(status='skipped', reason=(
            f'{NUM_CHANNELS} x [{BATCH_SIZE}, {candidates}] logit matrices '
            f'need about {need / 2**20:.0f} MiB, more than '
            f'{MEMORY_FRACTION:.0%} of the {available / 2**20:.0f} MiB '
            f'available'))
    else:
        result = common.run_child(child_command(path, info, negatives, cfg,
                                                threads))
    result['logit_memory_estimate_mib'] = need / 2**20
    return result


def bench_scaling(cfg: Dict, threads: int) -> Dict:
    variants = {'full': 'full', 'sampled': SAMPLED_NEGATIVES}
    rows = []
    largest_generated = None
    with tempfile.TemporaryDirectory(prefix='bench_scaling_') as tmp:
        for interactions in cfg['sizes']:
            edge_index, info = build_interactions(
                interactions, cfg['max_synthetic_cells'], largest_generated)
            if info['generator'] == 'generate_synthetic':
                largest_generated = info
            path = osp.join(tmp, f'train_{interactions}.npy')
            np.save(path, edge_index.numpy())
            del edge_index
            info['variants'] = {}
            for variant, negatives in variants.items():
                if negatives != 'full':
                    negatives = min(negatives, info['num_items'])
                result = measure_variant(path, info, negatives, cfg, threads)
                info['variants'][variant] = result
                print(f"  {interactions:.0e} {variant}: {cell(result)}",
                      flush=True)
            rows.append(info)
    return dict(
        batch_size=BATCH_SIZE, dim=DIM, num_channels=NUM_CHANNELS,
        sampled_negatives=SAMPLED_NEGATIVES,
        sizes_rule=(f'num_users = round(N / {AVG_DEGREE}), num_items = '
                    f'round({ITEMS_PER_SQRT} * sqrt(N)); generate_synthetic '
                    f'while num_users * num_items <= '
                    f"{cfg['max_synthetic_cells']:.0e}, else the vectorised "
                    f'popularity fallback'),
        epoch_time_method=(
            f"measured: one complete epoch (shuffle, negatives, every batch, "
            f"Adam) when the estimate is <= {cfg['max_epoch_seconds']:g} s; "
            f"else estimated_from_steps: ceil(E_train / {BATCH_SIZE}) x "
            f"median of {cfg['steps']} steps after {cfg['warmup']} warm-up "
            f"steps + median per-epoch shuffle/negative sampling (each row "
            f"says which)"),
        memory_method=('peak_rss_mb: VmHWM of a fresh subprocess per (size, '
                       'variant), read at its end '
                       '(torch_geometric_infodcl.profile.peak_rss_mb)'),
        skip_rule=(f'skip if {NUM_CHANNELS} x {LOGIT_COPIES} float32 '
                   f'[B, candidates] matrices exceed {MEMORY_FRACTION:.0%} '
                   f'of MemAvailable'),
        rows=rows, slopes=fit_slopes(rows, list(variants)),
        plot='scaling.png (beside this JSON)')


def plot_scaling(scaling: Dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.2))
    for variant, marker in (('full', 'o'), ('sampled', 's')):
        ok = [row for row in scaling['rows']
              if row['variants'][variant]['status'] == 'ok']
        if not ok:
            continue
        x = [row['train_interactions'] for row in ok]
        slope = slope_text(scaling['slopes'][variant]['slope'])
        label = ('full InfoNCE' if variant == 'full' else
                 f"sampled InfoNCE ({scaling['sampled_negatives']})")
        line, = ax_time.loglog(x, [row['variants'][variant]['epoch_seconds']
                                   for row in ok], marker=marker,
                               label=f'{label}, slope {slope}')
        estimated = [row for row in ok if row['variants'][variant][
            'epoch_time_method'] != 'measured']
        ax_time.loglog([row['train_interactions'] for row in estimated],
                       [row['variants'][variant]['epoch_seconds']
                        for row in estimated], marker=marker,
                       linestyle='none', color=line.get_color(),
                       markerfacecolor='white')
        ax_mem.loglog(x, [row['variants'][variant]['peak_rss_mb']
                          for row in ok], marker=marker, label=label)
    ax_time.set(xlabel='training interactions',
                ylabel='seconds per epoch (hollow: estimated from steps)',
                title='InfoDCL epoch time')
    ax_mem.set(xlabel='training interactions', ylabel='peak RSS (MiB)',
               title='InfoDCL peak memory')
    for ax in (ax_time, ax_mem):
        ax.grid(True, which='both', alpha=0.3)
        ax.legend()
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: fig.savefig(f, dpi=120, format='png'))
    plt.close(fig)


def slope_text(slope: Optional[float]) -> str:
    return 'n/a' if slope is None else f'{slope:.2f}'


def cell(result: Dict) -> str:
    if result['status'] != 'ok':
        return result['status'] + (f" ({result['reason']})"
                                   if 'reason' in result else '')
    return (f"{result['epoch_seconds']:.1f} s/epoch "
            f"({result['epoch_time_method']}), "
            f"{common.ms(result['step']['median_seconds'])}/step (Adam "
            f"{common.ms(result['adam_step']['median_seconds'])}), peak "
            f"{result['peak_rss_mb']:.0f} MiB")


def describe(report: Dict) -> None:
    scaling = report['scaling']
    print(f"scaling: {scaling['epoch_time_method']}")
    for row in scaling['rows']:
        print(f"  N={row['interactions']:,} (train "
              f"{row['train_interactions']:,}), {row['num_users']:,} users, "
              f"{row['num_items']:,} items, {row['generator']}:")
        for variant, result in row['variants'].items():
            print(f'    {variant}: {cell(result)}')
    print('  log-log slope of epoch time vs interactions: ' +
          ', '.join(f"{variant} {slope_text(fit['slope'])} (measured only "
                    f"{slope_text(fit['measured_only']['slope'])})"
                    for variant, fit in scaling['slopes'].items()))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = common.parser(__doc__, NAME, data=False)
    parser.add_argument('--sizes', type=float, nargs='+',
                        help='interaction counts')
    parser.add_argument('--steps', type=common.positive_int,
                        help='timed steps per (size, variant)')
    parser.add_argument('--max-epoch-seconds', type=float,
                        help='measure a complete epoch when the estimate is '
                        'at most this (default: 900; with --quick 60)')
    parser.add_argument('--max-synthetic-cells', type=float,
                        help='largest num_users * num_items handed to '
                        'generate_synthetic')
    # One (size, variant) in a fresh process (see child()).
    for flag, kind in [('--edges', str), ('--num-users', int),
                       ('--num-items', int), ('--negatives', str),
                       ('--warmup', int), ('--epoch-setup-runs', int)]:
        parser.add_argument(flag, type=kind, help=argparse.SUPPRESS)
    parser.add_argument('--child', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sizes is not None and min(args.sizes) < AVG_DEGREE * 10:
        parser.error(f'--sizes must be >= {AVG_DEGREE * 10} interactions')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Optional[Dict]:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.child:
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        child(args)
        return None
    cfg = dict(SETTINGS['quick' if args.quick else 'full'])
    if args.sizes is not None:
        cfg['sizes'] = [int(n) for n in args.sizes]
    if args.steps is not None:
        cfg['steps'] = args.steps
    if args.max_synthetic_cells is not None:
        cfg['max_synthetic_cells'] = args.max_synthetic_cells
    if args.max_epoch_seconds is not None:
        cfg['max_epoch_seconds'] = args.max_epoch_seconds

    def study() -> Dict:
        scaling = bench_scaling(cfg, torch.get_num_threads())
        out = common.output_path(args, NAME)
        plot_scaling(scaling, osp.join(osp.dirname(osp.abspath(out)),
                                       'scaling.png'))
        return dict(scaling=scaling)

    return common.run_report(__file__, argv, args, NAME, cfg, study, describe)


if __name__ == '__main__':
    main()
