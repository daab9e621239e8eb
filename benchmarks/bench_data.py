r"""Speed and memory of the data-side modules on real datasets (CPU).

* ``office``: :class:`SimilarityMetadata` on Office (4,905 users, 2,420 items,
  40,877 training pairs), once with the shipped pretrained base embeddings
  (``base_pt``: the Jaccard metadata alone) and once with the default
  ``base='svd'`` (SVD + metadata). Target: < 2 s.
* ``gowalla``: :class:`SimilarityMetadata` with ``base='svd'`` on Gowalla
  (29,858 users, 40,981 items, 810,128 training pairs). Every run is a fresh
  subprocess, which reports its own peak resident memory
  (:func:`~torch_geometric_infodcl.profile.peak_rss_mb`) before and after
  the transform. Targets: < 60 s, peak < 4 GB.
* ``ml1m_metrics``: :func:`full_rank_metrics` for all 6,040 ML-1M users over
  the 3,706 items present in ``full_mulsetrank`` (ids remapped), random 64-d
  embeddings, test pairs as targets, training pairs excluded. Target: < 2 s.

Each timing list excludes one untimed warm-up call (not for ``gowalla``,
where each subprocess times its single call). ``--quick`` measures the
Office graph in place of ML-1M and Gowalla (each entry names its
``dataset``).

Writes ``benchmarks/results/data.json``: the header of :mod:`common`,
``note`` and ``runs``, one entry per thread count with ``torch_threads``,
``loadavg_before``, ``office``, ``ml1m_metrics``, ``gowalla``,
``loadavg_after``::

    python benchmarks/bench_data.py [--data-root ../shared/data] \
        [--threads 1 2] [--quick]
"""
import argparse
import os.path as osp
import sys
import time
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

import common
from torch_geometric_infodcl.metrics import full_rank_metrics
from torch_geometric_infodcl.transforms import SimilarityMetadata
from torch_geometric_infodcl.typing import EDGE_TYPE

NAME = 'data'
STUDY_KEYS = ('note', 'runs')
GOWALLA_USERS, GOWALLA_ITEMS = 29858, 40981
SETTINGS = {'full': dict(runs=5, gowalla_runs=2),
            'quick': dict(runs=1, gowalla_runs=1)}


def hetero(edge_index: Tensor, num_users: int, num_items: int) -> HeteroData:
    data = HeteroData()
    data['user'].num_nodes = num_users
    data['item'].num_nodes = num_items
    data[EDGE_TYPE].edge_index = edge_index
    return data


def bench_office(data_root: str, runs: int) -> Dict:
    folder = osp.join(data_root, 'office')
    data = hetero(common.read_office(data_root), common.OFFICE_USERS,
                  common.OFFICE_ITEMS)
    given = SimilarityMetadata(base=(osp.join(folder, 'uEmbeds_pt.npy'),
                                     osp.join(folder, 'iEmbeds_pt.npy')))
    svd = SimilarityMetadata(base='svd')
    return dict(
        dataset='office/train.txt', num_users=common.OFFICE_USERS,
        num_items=common.OFFICE_ITEMS,
        num_edges=data[EDGE_TYPE].edge_index.size(1),
        base_pt=common.summary(common.timed(lambda: given(data), runs),
                               transform=repr(given)),
        base_svd=common.summary(common.timed(lambda: svd(data), runs),
                                transform=repr(svd)),
        target_seconds=2.0)


def metadata_graph(data_root: str, quick: bool) -> HeteroData:
    if quick:
        return hetero(common.read_office(data_root), common.OFFICE_USERS,
                      common.OFFICE_ITEMS)
    return hetero(
        common.read_edges(data_root, 'gowalla', 'train.txt.gz',
                          num_users=GOWALLA_USERS, num_items=GOWALLA_ITEMS,
                          lightgcn=True), GOWALLA_USERS, GOWALLA_ITEMS)


def gowalla_child(data_root: str, quick: bool) -> None:
    r"""One timed transform in this fresh process, answered with
    :func:`common.emit`."""
    data = metadata_graph(data_root, quick)
    transform = SimilarityMetadata(base='svd')
    rss_before = common.peak_rss_mb()
    start = time.perf_counter()
    out = transform(data)
    seconds = time.perf_counter() - start
    common.emit(dict(seconds=seconds,
                     peak_rss_mb_before_transform=rss_before,
                     num_users=data['user'].num_nodes,
                     num_items=data['item'].num_nodes,
                     num_edges=data[EDGE_TYPE].edge_index.size(1),
                     output_shape=list(out['item'].knowledge_metadata.shape),
                     transform=repr(transform)))


def bench_gowalla(data_root: str, runs: int, threads: int,
                  quick: bool) -> Dict:
    command = [sys.executable, osp.abspath(__file__), '--gowalla-child',
               '--data-root', data_root, '--threads', str(threads)]
    results = []
    for _ in range(runs):
        result = common.run_child(command + (['--quick'] if quick else []))
        if result['status'] != 'ok':
            raise RuntimeError(f"the Gowalla subprocess failed:\n"
                               f"{result['stderr_tail']}")
        results.append(result)
    first = results[0]
    return dict(
        dataset='office/train.txt' if quick else 'gowalla/train.txt.gz',
        num_users=first['num_users'], num_items=first['num_items'],
        num_edges=first['num_edges'], transform=first['transform'],
        **common.summary([r['seconds'] for r in results]),
        peak_rss_mb=[r['peak_rss_mb'] for r in results],
        peak_rss_mb_before_transform=[
            r['peak_rss_mb_before_transform'] for r in results
        ], target_seconds=60.0, target_peak_rss_mb=4096.0)


def bench_metrics(data_root: str, runs: int, quick: bool) -> Dict:
    if quick:
        train, test = (common.read_office(data_root, split)
                       for split in ('train', 'test'))
        dataset, num_users = 'office/{train,test}.txt', common.OFFICE_USERS
    else:
        train, test = (common.read_ml1m(data_root, split)
                       for split in ('train', 'test'))
        dataset = 'ml-1m/full_mulsetrank/{train,test}.txt'
        num_users = common.ML1M_USERS
    # Keep the items that occur (ML-1M's ids index movies.dat rows).
    present, remapped = torch.unique(torch.cat([train[1], test[1]]),
                                     return_inverse=True)
    train = torch.stack([train[0], remapped[:train.size(1)]])
    test = torch.stack([test[0], remapped[train.size(1):]])
    num_items = present.numel()
    gen = torch.Generator().manual_seed(0)
    user_emb = torch.randn(num_users, 64, generator=gen)
    item_emb = torch.randn(num_items, 64, generator=gen)

    def run():
        return full_rank_metrics(user_emb, item_emb, test, train)

    times = common.timed(run, runs)
    row = dict(dataset=dataset, num_users=num_users, num_items=num_items,
               num_targets=test.size(1), num_excluded=train.size(1),
               num_evaluated_users=run()['num_users'], dim=64,
               ks=[10, 20, 50], batch_size=2048, **common.summary(times),
               target_seconds=2.0)
    row['users_per_second_median'] = (row['num_evaluated_users'] /
                                      row['median_seconds'])
    return row


def bench_all(data_root: str, cfg: Dict, quick: bool) -> Dict:
    threads = torch.get_num_threads()
    out = dict(torch_threads=threads, loadavg_before=common.load_average())
    out['office'] = bench_office(data_root, cfg['runs'])
    out['ml1m_metrics'] = bench_metrics(data_root, cfg['runs'], quick)
    out['gowalla'] = bench_gowalla(data_root, cfg['gowalla_runs'], threads,
                                   quick)
    out['loadavg_after'] = common.load_average()
    return out


def bench_thread_counts(data_root: str, cfg: Dict, quick: bool,
                        thread_counts: Sequence[int]) -> Dict:
    runs = []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        runs.append(bench_all(data_root, cfg, quick))
    return dict(note=('loadavg_* show CPU contention from other processes '
                      'during the runs; a load above the number of cores '
                      'means the timings are contended'), runs=runs)


def describe(report: Dict) -> None:
    for run in report['runs']:
        office, metrics = run['office'], run['ml1m_metrics']
        gowalla = run['gowalla']
        print(f"[{run['torch_threads']} threads] SimilarityMetadata Office: "
              f"given base {common.ms(office['base_pt']['median_seconds'])}, "
              f"SVD base {common.ms(office['base_svd']['median_seconds'])}; "
              f"{gowalla['dataset']} {gowalla['median_seconds']:.2f} s, peak "
              f"{max(gowalla['peak_rss_mb']):.0f} MiB; full_rank_metrics "
              f"{metrics['dataset']} {common.ms(metrics['median_seconds'])}"
              f" = {metrics['users_per_second_median']:,.0f} users/s")


def main(argv: Optional[Sequence[str]] = None) -> Optional[Dict]:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = common.parser(__doc__, NAME, thread_list=True)
    parser.add_argument('--runs', type=common.positive_int,
                        help='timed runs for office and ml1m_metrics')
    parser.add_argument('--gowalla-runs', type=common.positive_int)
    parser.add_argument('--gowalla-child', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data_root = osp.abspath(args.data_root)
    if args.gowalla_child:
        if args.threads:
            torch.set_num_threads(args.threads[0])
        gowalla_child(data_root, args.quick)
        return None
    cfg = dict(SETTINGS['quick' if args.quick else 'full'])
    cfg.update({key: getattr(args, key) for key in ('runs', 'gowalla_runs')
                if getattr(args, key) is not None})
    thread_counts = args.threads or [torch.get_num_threads()]
    return common.run_report(
        __file__, argv, args, NAME, dict(cfg, threads=thread_counts),
        lambda: bench_thread_counts(data_root, cfg, args.quick,
                                    thread_counts), describe)


if __name__ == '__main__':
    main()
