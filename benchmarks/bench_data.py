r"""Speed and memory of the data-side modules on real datasets (CPU).

* ``office``: :class:`SimilarityMetadata` on Office (4,905 users, 2,420 items,
  40,877 training pairs), once with the shipped pretrained base embeddings
  (``base_pt``: the Jaccard metadata alone) and once with the default
  ``base='svd'`` (SVD + metadata). Target: < 2 s.
* ``gowalla``: :class:`SimilarityMetadata` with ``base='svd'`` on Gowalla
  (29,858 users, 40,981 items, 810,128 training pairs). Every run is a fresh
  subprocess, which reports its own peak resident memory (``ru_maxrss``)
  before and after the transform. Targets: < 60 s, peak < 4 GB.
* ``ml1m_metrics``: :func:`full_rank_metrics` for all 6,040 ML-1M users over
  the 3,706 items present in ``full_mulsetrank`` (ids remapped), random 64-d
  embeddings, test pairs as targets, training pairs excluded. Target: < 2 s.

Each timing list excludes one untimed warm-up call (not for ``gowalla``,
where each subprocess times its single call). Run from the repository root::

    python benchmarks/bench_data.py [--data-root ../shared/data] \
        [--threads 1 2]
"""
import argparse
import gzip
import json
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import numpy as np
import torch
import torch_geometric
from torch import Tensor
from torch_geometric.data import HeteroData

from torch_geometric_infodcl.data.metadata import SimilarityMetadata
from torch_geometric_infodcl.metrics import full_rank_metrics

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
EDGE_TYPE = ('user', 'interacts', 'item')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root',
                        default=osp.join(REPO_ROOT, '..', 'shared', 'data'))
    parser.add_argument('--runs', type=int, default=5,
                        help='timed runs for office and ml1m_metrics')
    parser.add_argument('--gowalla-runs', type=int, default=2)
    parser.add_argument('--threads', type=int, nargs='+', default=None,
                        help='torch thread counts to measure, each in turn '
                        '(default: the torch default only)')
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'benchmarks',
                                                  'results', 'data.json'))
    parser.add_argument('--gowalla-child', action='store_true',
                        help=argparse.SUPPRESS)
    return parser.parse_args()


# Readers #####################################################################


def read_pairs(path: str) -> Tensor:
    return torch.from_numpy(np.loadtxt(path, dtype=np.int64)).t()


def read_lightgcn_lines(path: str) -> Tensor:
    r"""Reads ``u i i i ...`` lines (optionally gzipped) into an
    ``edge_index``."""
    opener = gzip.open if path.endswith('.gz') else open
    users, items = [], []
    with opener(path, 'rt') as f:
        for line in f:
            ids = np.array(line.split(), dtype=np.int64)
            if ids.size > 1:
                users.append(np.full(ids.size - 1, ids[0]))
                items.append(ids[1:])
    return torch.from_numpy(np.stack([np.concatenate(users),
                                      np.concatenate(items)]))


def hetero(edge_index: Tensor, num_users: int, num_items: int) -> HeteroData:
    data = HeteroData()
    data['user'].num_nodes = num_users
    data['item'].num_nodes = num_items
    data[EDGE_TYPE].edge_index = edge_index
    return data


# Measurement #################################################################


def timed(fn: Callable[[], object], runs: int) -> List[float]:
    fn()  # warm-up: allocator, lazy imports, thread pool
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary(times: List[float], **extra) -> Dict:
    return dict(seconds=times, median_seconds=statistics.median(times),
                **extra)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB


def bench_office(root: str, runs: int) -> Dict:
    folder = osp.join(root, 'office')
    data = hetero(read_pairs(osp.join(folder, 'train.txt')), 4905, 2420)
    given = SimilarityMetadata(base=(osp.join(folder, 'uEmbeds_pt.npy'),
                                     osp.join(folder, 'iEmbeds_pt.npy')))
    svd = SimilarityMetadata(base='svd')
    return dict(
        num_users=4905, num_items=2420,
        num_edges=data[EDGE_TYPE].edge_index.size(1),
        base_pt=summary(timed(lambda: given(data), runs),
                        transform=repr(given)),
        base_svd=summary(timed(lambda: svd(data), runs),
                         transform=repr(svd)),
        target_seconds=2.0)


def gowalla_child(root: str) -> None:
    r"""One timed transform; prints a JSON line for the parent."""
    edge_index = read_lightgcn_lines(osp.join(root, 'gowalla',
                                              'train.txt.gz'))
    data = hetero(edge_index, 29858, 40981)
    transform = SimilarityMetadata(base='svd')
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    out = transform(data)
    seconds = time.perf_counter() - start
    shape = list(out['item'].knowledge_metadata.shape)
    print(json.dumps(dict(seconds=seconds, peak_rss_mb=peak_rss_mb(),
                          peak_rss_mb_before_transform=rss_before,
                          num_edges=edge_index.size(1), output_shape=shape,
                          transform=repr(transform))))


def bench_gowalla(root: str, runs: int, threads: int) -> Dict:
    command = [sys.executable, osp.abspath(__file__), '--gowalla-child',
               '--data-root', root, '--threads', str(threads)]
    results = []
    for _ in range(runs):
        done = subprocess.run(command, check=True, capture_output=True,
                              text=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return dict(
        num_users=29858, num_items=40981,
        num_edges=results[0]['num_edges'],
        transform=results[0]['transform'],
        **summary([r['seconds'] for r in results]),
        peak_rss_mb=[r['peak_rss_mb'] for r in results],
        peak_rss_mb_before_transform=[
            r['peak_rss_mb_before_transform'] for r in results
        ], target_seconds=60.0, target_peak_rss_mb=4096.0)


def bench_ml1m_metrics(root: str, runs: int) -> Dict:
    folder = osp.join(root, 'ml-1m', 'full_mulsetrank')
    train = read_lightgcn_lines(osp.join(folder, 'train.txt'))
    test = read_lightgcn_lines(osp.join(folder, 'test.txt'))
    # Item ids index movies.dat rows; keep the 3,706 items that occur.
    present, remapped = torch.unique(torch.cat([train[1], test[1]]),
                                     return_inverse=True)
    train = torch.stack([train[0], remapped[:train.size(1)]])
    test = torch.stack([test[0], remapped[train.size(1):]])
    num_users, num_items = 6040, present.numel()
    gen = torch.Generator().manual_seed(0)
    user_emb = torch.randn(num_users, 64, generator=gen)
    item_emb = torch.randn(num_items, 64, generator=gen)

    def run():
        return full_rank_metrics(user_emb, item_emb, test, train)

    times = timed(run, runs)
    return dict(num_users=num_users, num_items=num_items,
                num_targets=test.size(1), num_excluded=train.size(1),
                num_evaluated_users=run()['num_users'], dim=64,
                ks=[10, 20, 50], batch_size=2048, **summary(times),
                target_seconds=2.0)


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def bench_all(root: str, args: argparse.Namespace) -> Dict:
    threads = torch.get_num_threads()
    out = dict(torch_threads=threads, loadavg_before=list(os.getloadavg()))
    out['office'] = bench_office(root, args.runs)
    print(f'[{threads} threads] office', json.dumps(out['office']))
    out['ml1m_metrics'] = bench_ml1m_metrics(root, args.runs)
    print(f'[{threads} threads] ml1m_metrics',
          json.dumps(out['ml1m_metrics']))
    out['gowalla'] = bench_gowalla(root, args.gowalla_runs, threads)
    print(f'[{threads} threads] gowalla', json.dumps(out['gowalla']))
    out['loadavg_after'] = list(os.getloadavg())
    return out


def main() -> None:
    args = parse_args()
    root = osp.abspath(args.data_root)
    if args.gowalla_child:
        if args.threads:
            torch.set_num_threads(args.threads[0])
        gowalla_child(root)
        return

    results = dict(
        command='python ' + ' '.join(
            [osp.relpath(osp.abspath(__file__), REPO_ROOT)] + sys.argv[1:]),
        time=time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        machine=dict(platform=platform.platform(), cpu_model=cpu_model(),
                     logical_cpus=os.cpu_count(),
                     default_torch_threads=torch.get_num_threads(),
                     torch=torch.__version__,
                     torch_geometric=torch_geometric.__version__,
                     python=platform.python_version()),
        note=('loadavg_* show CPU contention from other processes during '
              'the runs; timings above 2 on a 2-core machine are contended'),
        runs=[],
    )
    for threads in args.threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        results['runs'].append(bench_all(root, args))

    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(results, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
