r"""Speed and memory of InfoDCL's training and inference on CPU.

Sections (each figure is a list of timings and its median; every timed call
follows one untimed warm-up unless stated otherwise):

1. ``modules``: forward + backward of :class:`PSNetNoise` ``(64,
   metadata_dim=64)`` and of :meth:`DiffusionDenoiser.p_losses` ``(64)`` on a
   ``B = 2000``, ``d = 64`` batch in train mode (random upstream gradients,
   gradients reset before every call): ms per batch and samples/s.
2. ``propagation``: :class:`LightGCNInference` against PyG's
   :meth:`LightGCN.get_embedding` on the ML-1M training graph, measured by
   ``bench_propagation.bench_layers`` (its timing helper only returns medians,
   so it is swapped for one that also records every timing list).
3. ``data``: :func:`full_rank_metrics` on all ML-1M users
   (``bench_data.bench_ml1m_metrics``, reported as users/s) and
   :class:`SimilarityMetadata` on Office (``bench_data.bench_office``).
4. ``training_step``: one optimisation step on Office sizes (4,905 users,
   2,420 items, batch 2,000 from the real ``office/train.txt`` with uniform
   negatives): ``zero_grad``, ``model.loss`` (optionally under
   ``torch.autocast('cpu', torch.bfloat16)``), ``backward``, ``Adam.step``,
   as :class:`Trainer` does it. InfoDCL has the authors' default
   hyper-parameters and two 64-d metadata channels (the shipped Office
   social / knowledge item embeddings); PyG LightGCN has 3 layers and the
   Office training graph set with ``set_graph``; MF-BPR is the graph-free
   baseline. The InfoDCL step is broken down into its two InfoNCE terms, its
   two PSNets and its two denoisers, each timed forward + backward in
   isolation on the step's shapes; ``rest`` is the step minus their sum (BPR,
   L2, embedding gathers, balance loss, Adam; BPR + L2 and Adam are also
   timed alone).
5. ``scaling``: InfoDCL on synthetic data of 1e4 ... 1e7 interactions, with
   the full-catalogue InfoNCE (``negatives='full'``) and with 1,024 shared
   sampled candidates (``negatives=1024``). Sizes: ``num_users = N / 25``
   (the generator's mean degree 25), ``num_items = 12 * sqrt(N)``. Data come
   from :func:`generate_synthetic` while ``num_users * num_items`` (its
   Gumbel-top-k work) stays below ``--max-synthetic-cells``; above it the
   same degree and Zipf-popularity laws are sampled without the preference
   term by vectorised rejection (see :func:`popularity_interactions`), the
   interactions are split per user the same way, and the time
   :func:`generate_synthetic` would have taken is extrapolated from the
   largest size it ran. Full epochs are too long at the top sizes, so the
   epoch time is **estimated from steps**: ``ceil(E_train / B)`` times the
   median of ``--scaling-steps`` steps (after warm-up steps) plus the
   per-epoch shuffling and negative sampling. Every (size, variant) runs in
   its own subprocess, which reports its peak resident memory (``VmHWM``;
   its ``ru_maxrss`` is recorded too but inherits the parent's resident size
   on Linux, see :func:`peak_rss_mb`). A configuration whose
   ``[B, num_candidates]`` logit matrices would take more than a quarter of
   the available memory is skipped and recorded as such. The log-log slope
   of the epoch time against the training interactions is fitted with
   :func:`numpy.polyfit` per variant and plotted to ``scaling.png`` beside
   the JSON.

CPU only (the reused ``bench_propagation`` / ``bench_data`` helpers are).
Run from the repository root on an otherwise idle machine::

    python benchmarks/bench_speed.py [--data-root ../shared/data] \
        [--threads 2] [--quick] [--out benchmarks/results/speed.json]

``--quick`` runs every section with tiny repetitions and sizes (a smoke test
whose timings mean nothing) and writes to the temporary folder unless
``--out`` is given.
"""
import argparse
import itertools
import json
import math
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
import torch_geometric
from torch import Tensor

BENCH_DIR = osp.dirname(osp.abspath(__file__))
if BENCH_DIR not in sys.path:  # the sibling benchmark scripts are reused
    sys.path.insert(0, BENCH_DIR)

import bench_data  # noqa: E402
import bench_propagation  # noqa: E402

from torch_geometric_infodcl.data import NegativeSampler, TrainBatch  # noqa
from torch_geometric_infodcl.data.preprocess import split_per_user  # noqa
from torch_geometric_infodcl.data.synthetic import generate_synthetic  # noqa
from torch_geometric_infodcl.models import InfoDCL, MFBPR, PyGLightGCN  # noqa
from torch_geometric_infodcl.nn import (  # noqa: E402
    DiffusionDenoiser,
    PSNetNoise,
    bpr_loss,
    info_nce_loss,
    l2_reg_loss,
)

REPO_ROOT = osp.dirname(BENCH_DIR)
DEFAULT_OUT = osp.join(REPO_ROOT, 'benchmarks', 'results', 'speed.json')
QUICK_OUT = osp.join(tempfile.gettempdir(), 'bench_speed_quick', 'speed.json')
SECTIONS = ('modules', 'propagation', 'data', 'training_step', 'scaling')

BATCH_SIZE = 2000
DIM = 64
OFFICE_USERS, OFFICE_ITEMS = 4905, 2420
OFFICE_METADATA = {'social': 'item_social_emb.npy',
                   'knowledge': 'item_knowledge_emb.npy'}
LR = 0.005  # the authors' Adam learning rate; it does not change the cost

# Scaling study.
AVG_DEGREE = 25  # generate_synthetic's default mean user degree
ITEMS_PER_SQRT = 12  # num_items = 12 * sqrt(interactions)
SAMPLED_NEGATIVES = 1024
NUM_CHANNELS = 2
# Per channel the full InfoNCE keeps one [B, C] float32 exponent matrix for
# backward; the GEMM output and one transient can coexist with it.
LOGIT_COPIES = 3
MEMORY_FRACTION = 0.25  # "fits comfortably": a quarter of MemAvailable
MAX_REDRAW_ROUNDS = 50

# Repetitions: (full run, --quick).
SETTINGS = {
    'full': dict(module_runs=20, propagation_runs=10,
                 propagation_layers=[2, 3],
                 copy_mb=512, data_runs=5, step_runs=20,
                 sizes=[10**4, 10**5, 10**6, 10**7], scaling_steps=10,
                 scaling_warmup=3, epoch_setup_runs=3,
                 max_synthetic_cells=1e9),
    'quick': dict(module_runs=3, propagation_runs=2, propagation_layers=[2],
                  copy_mb=16, data_runs=1, step_runs=3,
                  sizes=[10**4, 3 * 10**4], scaling_steps=2, scaling_warmup=1,
                  epoch_setup_runs=1, max_synthetic_cells=1e6),
}

timed = bench_data.timed  # one untimed warm-up, then `runs` timed calls
summary = bench_data.summary  # {'seconds': [...], 'median_seconds': ...}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root',
                        default=osp.join(REPO_ROOT, '..', 'shared', 'data'))
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: the torch default)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny repetitions and sizes (smoke test)')
    parser.add_argument('--out', default=None,
                        help=f'JSON output; scaling.png goes beside it '
                        f'(default: {osp.relpath(DEFAULT_OUT, REPO_ROOT)}, '
                        f'with --quick {QUICK_OUT})')
    parser.add_argument('--sections', nargs='+', choices=SECTIONS,
                        default=list(SECTIONS))
    parser.add_argument('--sizes', type=float, nargs='+', default=None,
                        help='scaling study interaction counts')
    parser.add_argument('--scaling-steps', type=int, default=None)
    parser.add_argument('--max-synthetic-cells', type=float, default=None,
                        help='largest num_users * num_items handed to '
                        'generate_synthetic')
    # Internal: one scaling configuration in a fresh process.
    parser.add_argument('--scaling-child', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--edges', help=argparse.SUPPRESS)
    parser.add_argument('--num-users', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--num-items', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--negatives', help=argparse.SUPPRESS)
    parser.add_argument('--warmup', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--epoch-setup-runs', type=int,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1 (got {args.threads})')
    if args.scaling_steps is not None and args.scaling_steps < 1:
        parser.error(f'--scaling-steps must be >= 1 '
                     f'(got {args.scaling_steps})')
    if args.sizes is not None and min(args.sizes) < AVG_DEGREE * 10:
        parser.error(f'--sizes must be >= {AVG_DEGREE * 10} interactions')
    return args


def settings(args: argparse.Namespace) -> Dict:
    cfg = dict(SETTINGS['quick' if args.quick else 'full'])
    if args.sizes is not None:
        cfg['sizes'] = [int(n) for n in args.sizes]
    if args.scaling_steps is not None:
        cfg['scaling_steps'] = args.scaling_steps
    if args.max_synthetic_cells is not None:
        cfg['max_synthetic_cells'] = args.max_synthetic_cells
    return cfg


# Measurement helpers ########################################################


def peak_rss_mb() -> float:
    r"""Peak resident memory of this process image, in MiB: ``VmHWM`` of
    ``/proc/self/status``. ``ru_maxrss`` is not used for the children: Linux
    carries the launching process's resident size over the ``fork`` /
    ``exec`` into it (a child of a 500 MiB parent reports at least 500 MiB),
    while ``VmHWM`` belongs to the fresh address space."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("/proc/self/status has no 'VmHWM' line")


def ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB


def throughput(times: List[float], batch_size: int, **extra) -> Dict:
    median = statistics.median(times)
    return summary(times, batch_size=batch_size,
                   ms_per_batch_median=median * 1e3,
                   samples_per_second_median=batch_size / median, **extra)


def mem_available_bytes() -> int:
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/meminfo has no 'MemAvailable' line")


def read_office_train(data_root: str) -> Tensor:
    path = osp.join(data_root, 'office', 'train.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(f"Office training file not found at '{path}' "
                                f"(pass --data-root)")
    edge_index = bench_data.read_pairs(path)
    if edge_index.dim() != 2 or edge_index.size(0) != 2 or \
            int(edge_index[0].max()) >= OFFICE_USERS or \
            int(edge_index[1].max()) >= OFFICE_ITEMS:
        raise ValueError(f"'{path}' is not the Office training file "
                         f"({OFFICE_USERS} users, {OFFICE_ITEMS} items); got "
                         f"shape {tuple(edge_index.shape)}")
    return edge_index


def read_office_metadata(data_root: str) -> Dict[str, Tensor]:
    metadata = {}
    for name, file in OFFICE_METADATA.items():
        path = osp.join(data_root, 'office', file)
        if not osp.isfile(path):
            raise FileNotFoundError(f"Office metadata not found at '{path}' "
                                    f"(pass --data-root)")
        array = np.load(path)
        if array.shape != (OFFICE_ITEMS, DIM):
            raise ValueError(f"'{path}' has shape {array.shape}, expected "
                             f"({OFFICE_ITEMS}, {DIM})")
        metadata[name] = torch.from_numpy(array.astype(np.float32))
    return metadata


def full_batches(sampler: NegativeSampler, count: int,
                 generator: torch.Generator) -> List[TrainBatch]:
    r"""The first :obj:`count` full-size batches of one epoch (fewer if the
    epoch has fewer; the timed loops cycle through them)."""
    batches = []
    for batch in sampler.epoch_batches(BATCH_SIZE, generator):
        if len(batches) == count:
            break
        if batch.user.numel() == BATCH_SIZE:
            batches.append(batch)
    if not batches:
        raise ValueError(f"{sampler.num_edges} training interactions give no "
                         f"full batch of {BATCH_SIZE}")
    return batches


def make_train_step(model: torch.nn.Module, batches: List[TrainBatch],
                    bf16: bool = False) -> Callable[[], Tensor]:
    r"""One optimisation step per call, as :class:`Trainer` runs it."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    cycle = itertools.cycle(batches)
    model.train()

    def step() -> Tensor:
        batch = next(cycle)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            total, _ = model.loss(batch)
        total.backward()
        optimizer.step()
        return total.detach()

    return step


def timed_step(step: Callable[[], Tensor], runs: int, name: str) -> Dict:
    times = timed(step, runs)
    loss = float(step())  # one more step: the loss must stay finite
    if not math.isfinite(loss):
        raise FloatingPointError(f"{name}: non-finite training loss {loss}")
    return summary(times, last_loss=loss)


# 1. Modules #################################################################


def bench_modules(cfg: Dict) -> Dict:
    torch.manual_seed(0)
    psnet = PSNetNoise(DIM, metadata_dim=DIM).train()
    noise, metadata, grad = torch.randn(3, BATCH_SIZE, DIM).unbind(0)

    def psnet_step():
        psnet.zero_grad(set_to_none=True)
        psnet(noise, metadata).backward(grad)

    denoiser = DiffusionDenoiser(DIM).train()
    # Both inputs carry gradients in InfoDCL: the item rows and PSNet's noise.
    x0 = torch.randn(BATCH_SIZE, DIM, requires_grad=True)
    eps = torch.randn(BATCH_SIZE, DIM, requires_grad=True)

    def denoiser_step():
        denoiser.zero_grad(set_to_none=True)
        x0.grad = eps.grad = None
        x0_hat, loss = denoiser.p_losses(x0, noise=eps)
        torch.autograd.backward([x0_hat, loss], [grad, torch.ones(())])

    runs = cfg['module_runs']
    return dict(
        psnet=throughput(timed(psnet_step, runs), BATCH_SIZE,
                         module=repr(psnet), dim=DIM),
        denoiser_p_losses=throughput(timed(denoiser_step, runs), BATCH_SIZE,
                                     module=repr(denoiser), dim=DIM))


# 2. Propagation ##############################################################


@contextmanager
def recorded_medians(module) -> Iterator[List[List[float]]]:
    r"""Swaps :obj:`module.median_seconds` (one warm-up, :obj:`runs` timed
    calls, median) for the same measurement that also keeps every timing
    list, yielded in call order."""
    recorded: List[List[float]] = []
    original = module.median_seconds

    def median_seconds(fn, runs):
        times = timed(fn, runs)
        recorded.append(times)
        return statistics.median(times)

    module.median_seconds = median_seconds
    try:
        yield recorded
    finally:
        module.median_seconds = original


def timing_list(median: float, recorded: List[List[float]]) -> List[float]:
    r"""The recorded timing list whose median is :obj:`median`."""
    found = [t for t in recorded if statistics.median(t) == median]
    if len(found) != 1:
        raise RuntimeError(f"{len(found)} recorded timing lists have median "
                           f"{median}; expected exactly one")
    return found[0]


def bench_propagation_section(data_root: str, cfg: Dict) -> Dict:
    torch.manual_seed(0)
    edge_index = bench_propagation.load_ml1m(data_root)
    runs = cfg['propagation_runs']
    with recorded_medians(bench_propagation) as recorded:
        copy = bench_propagation.copy_bandwidth(cfg['copy_mb'], runs)
        rows = [
            bench_propagation.bench_layers(edge_index, layers, DIM, runs,
                                           copy['gb_per_s'])
            for layers in cfg['propagation_layers']
        ]
    copy['seconds_list'] = timing_list(copy['seconds'], recorded)
    copy['clone_seconds_list'] = timing_list(copy['clone_seconds'], recorded)
    for row in rows:
        row['seconds'] = {
            name: timing_list(median, recorded)
            for name, median in row['median_seconds'].items()
        }
        # The headline ratio: PyG time / ours (cached CSR) time.
        row['ratio_pyg_over_ours_warm'] = row['speedup_warm_vs_pyg']
    return dict(dataset='ml-1m/full_mulsetrank/train.txt',
                num_users=bench_propagation.NUM_USERS,
                num_items=bench_propagation.NUM_ITEMS,
                num_edges=int(edge_index.size(1)), dim=DIM, runs=runs,
                copy_reference=dict(copy, megabytes=cfg['copy_mb']),
                results=rows)


# 3. Data side ################################################################


def bench_data_section(data_root: str, cfg: Dict) -> Dict:
    torch.manual_seed(0)
    root = osp.abspath(data_root)
    metrics = bench_data.bench_ml1m_metrics(root, cfg['data_runs'])
    metrics['users_per_second_median'] = (metrics['num_evaluated_users'] /
                                          metrics['median_seconds'])
    office = bench_data.bench_office(root, cfg['data_runs'])
    return dict(full_rank_metrics_ml1m=metrics,
                similarity_metadata_office=office)


# 4. Training steps ###########################################################


def office_infodcl(metadata: Dict[str, Tensor]) -> InfoDCL:
    torch.manual_seed(0)
    return InfoDCL(OFFICE_USERS, OFFICE_ITEMS, dim=DIM, metadata=metadata)


def infodcl_breakdown(model: InfoDCL, batches: List[TrainBatch],
                      runs: int) -> Tuple[Dict[str, Dict], Dict[str, Dict]]:
    r"""Forward + backward of each InfoDCL piece alone, on the shapes of one
    training step (gradients reset before every call)."""
    batch = batches[0]
    pos = batch.pos_item
    item_table = model.item_emb.weight.detach().clone().requires_grad_()
    user_table = model.user_emb.weight.detach().clone().requires_grad_()
    view = torch.randn(BATCH_SIZE, DIM, requires_grad=True)
    eps = torch.randn(BATCH_SIZE, DIM, requires_grad=True)
    grad = torch.randn(BATCH_SIZE, DIM)
    leaves = (item_table, user_table, view, eps)

    def reset(module: Optional[torch.nn.Module] = None):
        for leaf in leaves:
            leaf.grad = None
        if module is not None:
            module.zero_grad(set_to_none=True)

    def info_nce():
        reset()
        info_nce_loss(view, item_table, pos, tau=model.tau,
                      negatives=model.negatives).backward()

    def psnet_fn(name: str):
        def run():
            reset(model.psnets[name])
            noise = torch.randn(BATCH_SIZE, DIM)
            model.psnets[name](noise, model.metadata(name)[pos]).backward(grad)
        return run

    def denoiser_fn(name: str):
        def run():
            reset(model.denoisers[name])
            x0_hat, rec = model.denoisers[name].p_losses(item_table[pos],
                                                         noise=eps)
            torch.autograd.backward([x0_hat, rec], [grad, torch.ones(())])
        return run

    def bpr_and_l2():
        reset()
        user, item = user_table[batch.user], item_table[pos]
        neg = item_table[batch.neg_item]
        loss = bpr_loss((user * item).sum(-1), (user * neg).sum(-1))
        loss = loss + l2_reg_loss(user, item, batch_size=BATCH_SIZE)
        loss.backward()

    model.train()
    parts, extra = {}, {}
    for name in model.channel_names:
        parts[f'info_nce[{name}]'] = summary(timed(info_nce, runs))
        parts[f'psnet[{name}]'] = summary(timed(psnet_fn(name), runs))
        parts[f'denoiser[{name}]'] = summary(timed(denoiser_fn(name), runs))
    extra['bpr_and_l2'] = summary(timed(bpr_and_l2, runs))

    # Adam alone, on gradients left by one real step.
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    optimizer.zero_grad(set_to_none=True)
    model.loss(batch)[0].backward()
    extra['adam_step'] = summary(timed(optimizer.step, runs))
    return parts, extra


def bench_training_step(data_root: str, cfg: Dict) -> Dict:
    edge_index = read_office_train(data_root)
    metadata = read_office_metadata(data_root)
    generator = torch.Generator().manual_seed(0)
    sampler = NegativeSampler(edge_index, OFFICE_USERS, OFFICE_ITEMS)
    batches = full_batches(sampler, 20, generator)
    runs = cfg['step_runs']

    steps = {}
    steps['infodcl_fp32'] = timed_step(
        make_train_step(office_infodcl(metadata), batches), runs,
        'InfoDCL fp32')
    steps['infodcl_bf16_autocast'] = timed_step(
        make_train_step(office_infodcl(metadata), batches, bf16=True), runs,
        'InfoDCL bf16')
    torch.manual_seed(0)
    lightgcn = PyGLightGCN(OFFICE_USERS, OFFICE_ITEMS, dim=DIM, num_layers=3)
    lightgcn.set_graph(edge_index)
    steps['pyg_lightgcn_fp32'] = timed_step(
        make_train_step(lightgcn, batches), runs, 'PyG LightGCN')
    torch.manual_seed(0)
    mf = MFBPR(OFFICE_USERS, OFFICE_ITEMS, dim=DIM)
    steps['mfbpr_fp32'] = timed_step(make_train_step(mf, batches), runs,
                                     'MF-BPR')

    model = office_infodcl(metadata)
    parts, extra = infodcl_breakdown(model, batches, runs)
    step_median = steps['infodcl_fp32']['median_seconds']
    rest = step_median - sum(p['median_seconds'] for p in parts.values())
    breakdown = dict(parts, rest=dict(median_seconds=rest,
                                      derived='infodcl_fp32 step minus the '
                                      'components above'))
    for part in breakdown.values():
        part['fraction_of_step'] = part['median_seconds'] / step_median

    lightgcn_median = steps['pyg_lightgcn_fp32']['median_seconds']
    return dict(
        dataset='office/train.txt', num_users=OFFICE_USERS,
        num_items=OFFICE_ITEMS, num_edges=int(edge_index.size(1)),
        batch_size=BATCH_SIZE, dim=DIM, metadata=list(OFFICE_METADATA),
        models=dict(infodcl=repr(model), lightgcn=repr(lightgcn),
                    mfbpr=repr(mf)),
        optimizer=f'Adam(lr={LR})', steps=steps,
        ratio_infodcl_over_lightgcn=step_median / lightgcn_median,
        ratio_infodcl_bf16_over_lightgcn=(
            steps['infodcl_bf16_autocast']['median_seconds'] /
            lightgcn_median),
        ratio_infodcl_bf16_over_fp32=(
            steps['infodcl_bf16_autocast']['median_seconds'] / step_median),
        infodcl_breakdown=breakdown,
        infodcl_rest_parts_in_isolation=extra)


# 5. Scaling ##################################################################


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
        store = data['user', 'interacts', 'item']
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


def run_scaling_child(edges_path: str, info: Dict, negatives: Union[str, int],
                      cfg: Dict, threads: int) -> Dict:
    command = [
        sys.executable, osp.abspath(__file__), '--scaling-child', '--edges',
        edges_path, '--num-users', str(info['num_users']), '--num-items',
        str(info['num_items']), '--negatives', str(negatives),
        '--scaling-steps', str(cfg['scaling_steps']), '--warmup',
        str(cfg['scaling_warmup']), '--epoch-setup-runs',
        str(cfg['epoch_setup_runs']), '--threads', str(threads)
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return dict(status='failed', returncode=done.returncode,
                    stderr_tail=done.stderr[-2000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return dict(status='ok', **result)


def scaling_child(args: argparse.Namespace) -> None:
    r"""One (size, variant): prints one JSON line for the parent."""
    torch.manual_seed(0)
    num_users, num_items = args.num_users, args.num_items
    negatives = (args.negatives if args.negatives == 'full' else
                 int(args.negatives))
    edge_index = torch.from_numpy(np.load(args.edges))
    start = time.perf_counter()
    sampler = NegativeSampler(edge_index, num_users, num_items)
    sampler_seconds = time.perf_counter() - start
    rss_before_model = peak_rss_mb()

    # Metadata values do not change the cost: two random 64-d channels.
    gen = torch.Generator().manual_seed(1)
    metadata = [torch.randn(num_items, DIM, generator=gen)
                for _ in range(NUM_CHANNELS)]
    model = InfoDCL(num_users, num_items, dim=DIM, metadata=metadata,
                    negatives=negatives)

    generator = torch.Generator().manual_seed(0)
    setup = []
    for _ in range(args.epoch_setup_runs):  # shuffle + sample all negatives
        start = time.perf_counter()
        next(sampler.epoch_batches(BATCH_SIZE, generator))
        setup.append(time.perf_counter() - start)

    count = args.warmup + args.scaling_steps
    step = make_train_step(model, full_batches(sampler, count, generator))
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.scaling_steps):
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
    if not math.isfinite(float(loss)):
        raise FloatingPointError(f"non-finite training loss {float(loss)}")

    steps_per_epoch = sampler.num_batches(BATCH_SIZE)
    step_median = statistics.median(times)
    setup_median = statistics.median(setup)
    print(json.dumps(dict(
        negatives=negatives, model=repr(model),
        step=summary(times, warmup_steps=args.warmup),
        epoch_setup=summary(setup), sampler_build_seconds=sampler_seconds,
        steps_per_epoch=steps_per_epoch,
        epoch_seconds=steps_per_epoch * step_median + setup_median,
        estimated_from_steps=True, peak_rss_mb=peak_rss_mb(),
        peak_rss_mb_before_model=rss_before_model,
        ru_maxrss_mb=ru_maxrss_mb(),
        torch_threads=torch.get_num_threads())))


def fit_slopes(rows: List[Dict], variants: List[str]) -> Dict[str, Dict]:
    slopes = {}
    for variant in variants:
        points = [(row['train_interactions'],
                   row['variants'][variant]['epoch_seconds']) for row in rows
                  if row['variants'][variant]['status'] == 'ok']
        if len(points) < 2:
            slopes[variant] = dict(slope=None, num_points=len(points),
                                   reason='fewer than 2 measured sizes')
            continue
        x, y = np.log10(np.array(points, dtype=np.float64)).T
        slope, intercept = np.polyfit(x, y, 1)
        slopes[variant] = dict(slope=float(slope),
                               intercept_log10=float(intercept),
                               num_points=len(points))
    return slopes


def bench_scaling(cfg: Dict, threads: int) -> Dict:
    variants = {'full': 'full', 'sampled': SAMPLED_NEGATIVES}
    rows = []
    largest_generated = None
    with tempfile.TemporaryDirectory(prefix='bench_speed_') as tmp:
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
                candidates = (info['num_items'] if negatives == 'full' else
                              negatives)
                need = logit_bytes(candidates)
                available = mem_available_bytes()
                if need > MEMORY_FRACTION * available:
                    result = dict(status='skipped', reason=(
                        f'{NUM_CHANNELS} x [{BATCH_SIZE}, {candidates}] logit '
                        f'matrices need about {need / 2**20:.0f} MiB, more '
                        f'than {MEMORY_FRACTION:.0%} of the '
                        f'{available / 2**20:.0f} MiB available'))
                else:
                    result = run_scaling_child(path, info, negatives, cfg,
                                               threads)
                result['logit_memory_estimate_mib'] = need / 2**20
                info['variants'][variant] = result
                print(f"  scaling {interactions:.0e} {variant}: "
                      f"{_scaling_cell(result)}", flush=True)
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
            f"estimated_from_steps: ceil(E_train / {BATCH_SIZE}) x median of "
            f"{cfg['scaling_steps']} steps after {cfg['scaling_warmup']} "
            f"warm-up steps + median per-epoch shuffle/negative sampling"),
        memory_method=('peak_rss_mb: VmHWM of a fresh subprocess per (size, '
                       'variant), read at its end; ru_maxrss_mb is also '
                       'recorded but includes the parent\'s resident size '
                       'inherited across fork/exec'),
        skip_rule=(f'skip if {NUM_CHANNELS} x {LOGIT_COPIES} float32 '
                   f'[B, candidates] matrices exceed {MEMORY_FRACTION:.0%} '
                   f'of MemAvailable'),
        rows=rows, slopes=fit_slopes(rows, list(variants)))


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
        slope_text = _slope_text(scaling['slopes'][variant]['slope'])
        label = ('full InfoNCE' if variant == 'full' else
                 f"sampled InfoNCE ({scaling['sampled_negatives']})")
        ax_time.loglog(x, [row['variants'][variant]['epoch_seconds']
                           for row in ok], marker=marker,
                       label=f'{label}, slope {slope_text}')
        ax_mem.loglog(x, [row['variants'][variant]['peak_rss_mb']
                          for row in ok], marker=marker, label=label)
    ax_time.set(xlabel='training interactions',
                ylabel='seconds per epoch (estimated from steps)',
                title='InfoDCL epoch time')
    ax_mem.set(xlabel='training interactions', ylabel='peak RSS (MiB)',
               title='InfoDCL peak memory')
    for ax in (ax_time, ax_mem):
        ax.grid(True, which='both', alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# Report ######################################################################


def machine_info() -> Dict:
    with open('/proc/meminfo') as f:
        mem_total = int(f.readline().split()[1]) * 1024
    return dict(cpu_model=bench_data.cpu_model(), logical_cpus=os.cpu_count(),
                usable_cpus=len(os.sched_getaffinity(0)),
                torch_threads=torch.get_num_threads(),
                mem_total_gib=mem_total / 2**30, torch=torch.__version__,
                torch_geometric=torch_geometric.__version__,
                numpy=np.__version__, python=platform.python_version(),
                platform=platform.platform(),
                mkl=torch.backends.mkl.is_available())


def _ms(seconds: float) -> str:
    return f'{seconds * 1e3:.1f} ms'


def _slope_text(slope: Optional[float]) -> str:
    return 'n/a' if slope is None else f'{slope:.2f}'


def _scaling_cell(result: Dict) -> str:
    if result['status'] != 'ok':
        return result['status'] + (f" ({result['reason']})"
                                   if 'reason' in result else '')
    return (f"{result['epoch_seconds']:.1f} s/epoch (est. from steps), "
            f"{_ms(result['step']['median_seconds'])}/step, peak "
            f"{result['peak_rss_mb']:.0f} MiB")


def print_summary(report: Dict) -> None:
    machine = report['machine']
    print(f"\n{machine['cpu_model']}, {machine['usable_cpus']} cpus, torch "
          f"{machine['torch']}, {machine['torch_threads']} threads; load "
          f"before/after {report['loadavg_before'][0]:.2f}/"
          f"{report['loadavg_after'][0]:.2f}"
          + ('  [QUICK: timings meaningless]' if report['quick'] else ''))
    if 'modules' in report:
        print(f'1. forward+backward, B={BATCH_SIZE}, d={DIM}, train mode')
        for row in report['modules'].values():
            print(f"   {row['module']}: {row['ms_per_batch_median']:.2f} ms/"
                  f"batch, {row['samples_per_second_median']:,.0f} samples/s")
    if 'propagation' in report:
        print('2. LightGCNInference vs PyG LightGCN.get_embedding, ML-1M')
        for row in report['propagation']['results']:
            t = row['median_seconds']
            print(f"   L={row['num_layers']}: PyG {_ms(t['pyg'])}, ours warm "
                  f"{_ms(t['ours_warm'])} (PyG/ours "
                  f"{row['speedup_warm_vs_pyg']:.1f}x), cold "
                  f"{_ms(t['ours_cold'])} "
                  f"({row['speedup_cold_vs_pyg']:.1f}x), max diff "
                  f"{row['max_abs_diff_vs_pyg']:.1e}")
    if 'data' in report:
        metrics = report['data']['full_rank_metrics_ml1m']
        office = report['data']['similarity_metadata_office']
        print(f"3. full_rank_metrics, {metrics['num_evaluated_users']} ML-1M "
              f"users: {_ms(metrics['median_seconds'])} = "
              f"{metrics['users_per_second_median']:,.0f} users/s; "
              f"SimilarityMetadata Office: given base "
              f"{_ms(office['base_pt']['median_seconds'])}, SVD base "
              f"{_ms(office['base_svd']['median_seconds'])}")
    if 'training_step' in report:
        section = report['training_step']
        steps = section['steps']
        print(f'4. one training step, Office sizes, B={BATCH_SIZE}, Adam: ' +
              ', '.join(f"{name} {_ms(row['median_seconds'])}"
                        for name, row in steps.items()))
        print(f"   InfoDCL/LightGCN "
              f"{section['ratio_infodcl_over_lightgcn']:.2f}"
              f" (bf16: {section['ratio_infodcl_bf16_over_lightgcn']:.2f}); "
              f"bf16/fp32 {section['ratio_infodcl_bf16_over_fp32']:.2f}")
        print('   InfoDCL breakdown (fwd+bwd in isolation): ' + ', '.join(
            f"{name} {_ms(part['median_seconds'])} "
            f"({part['fraction_of_step']:.0%})"
            for name, part in section['infodcl_breakdown'].items()))
    if 'scaling' in report:
        scaling = report['scaling']
        print('5. scaling: epoch time ESTIMATED FROM STEPS '
              f"({scaling['epoch_time_method']})")
        for row in scaling['rows']:
            print(f"   N={row['interactions']:,} (train "
                  f"{row['train_interactions']:,}), {row['num_users']:,} "
                  f"users, {row['num_items']:,} items, {row['generator']}:")
            for variant, result in row['variants'].items():
                print(f'      {variant}: {_scaling_cell(result)}')
        print('   log-log slope of epoch time vs interactions: ' +
              ', '.join(f"{variant} {_slope_text(fit['slope'])}"
                        for variant, fit in scaling['slopes'].items()))


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.scaling_child:
        scaling_child(args)
        return
    cfg = settings(args)
    out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    data_root = osp.abspath(args.data_root)

    report = dict(
        command=' '.join(['python'] + sys.argv),
        time=time.strftime('%Y-%m-%dT%H:%M:%S%z'), quick=args.quick,
        machine=machine_info(), settings=cfg,
        loadavg_before=list(os.getloadavg()),
        note=('CPU timings; a load average above the number of cores means '
              'other processes competed for the CPU'))
    start = time.perf_counter()
    runners = {
        'modules': lambda: bench_modules(cfg),
        'propagation': lambda: bench_propagation_section(data_root, cfg),
        'data': lambda: bench_data_section(data_root, cfg),
        'training_step': lambda: bench_training_step(data_root, cfg),
        'scaling': lambda: bench_scaling(cfg, torch.get_num_threads()),
    }
    for name in SECTIONS:
        if name in args.sections:
            section_start = time.perf_counter()
            report[name] = runners[name]()
            print(f'[{name}] done in {time.perf_counter() - section_start:.1f}'
                  f' s', flush=True)
    report['loadavg_after'] = list(os.getloadavg())
    report['wall_seconds'] = time.perf_counter() - start

    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    if 'scaling' in report:
        png = osp.join(osp.dirname(osp.abspath(out)), 'scaling.png')
        plot_scaling(report['scaling'], png)
        report['scaling']['plot'] = 'scaling.png (beside this JSON)'
    with open(out, 'w') as f:
        json.dump(report, f, indent=2)
    print_summary(report)
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
