r"""Speed of :class:`LightGCNInference` against PyG's
:meth:`LightGCN.get_embedding` on the ML-1M training graph (CPU).

Measures, for each number of layers, the median of ``--runs`` timed calls
(after one untimed warm-up) of

* ``pyg``: ``LightGCN.get_embedding`` on the homogeneous graph holding every
  (user, item) edge in both directions (items offset by the number of users);
* ``ours_warm``: ``LightGCNInference`` on ``(user_emb, item_emb)`` with the
  normalised CSR cached (steady state of repeated inference);
* ``ours_cold``: the same with ``cached=False`` (validation + normalisation +
  CSR construction + propagation on every call);
* ``ours_homogeneous_warm``: ``LightGCNInference`` on the homogeneous graph
  (same input as ``pyg``), cache warm.

Bandwidth reference: median time of copying a ``--copy-mb`` float32 tensor
into a pre-allocated one (``dst.copy_(src)``; a plain ``clone`` is reported
too, it also pays the page faults of a fresh allocation); a copy reads and
writes every byte, so ``GB/s = 2 * size / time``.

Byte model of the cached bipartite propagation (``bytes_per_forward``), the
compulsory traffic if every array is streamed exactly once:

* per layer, for each of the two products ``R~ @ item`` and ``R~^T @ user``:
  CSR row pointers ``(rows + 1) * b_idx`` + column indices ``nnz * b_idx`` +
  values ``nnz * b_val`` + the dense input read once ``cols * d * b_val`` +
  the dense output written once ``rows * d * b_val``;
* per layer, the weighted accumulation ``out += alpha_l * h`` (read ``out``,
  read ``h``, write ``out``): ``3 * (U + I) * d * b_val``;
* once, ``out = alpha_0 * x``: ``2 * (U + I) * d * b_val``.

``bytes_per_forward_gather`` counts the dense input once per non-zero instead
(``nnz * d * b_val``, the traffic without any cache reuse), an upper bound.
The dense tables (about 1.5 MB each for ML-1M) largely stay in cache, so the
compulsory model is the meaningful one against DRAM bandwidth.

Run from the repository root::

    python benchmarks/bench_propagation.py
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch_geometric
from torch import Tensor
from torch_geometric.nn.models import LightGCN

from torch_geometric_infodcl.nn.lightgcn_inference import LightGCNInference

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from bench_data import cpu_model  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NUM_USERS, NUM_ITEMS, NUM_EDGES = 6040, 3883, 794784


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root',
                        default=osp.join(REPO_ROOT, '..', 'shared', 'data'))
    parser.add_argument('--layers', type=int, nargs='+', default=[2, 3])
    parser.add_argument('--dim', type=int, default=64)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch default)')
    parser.add_argument('--copy-mb', type=int, default=512)
    parser.add_argument('--out', default=osp.join(REPO_ROOT, 'benchmarks',
                                                  'results',
                                                  'propagation.json'))
    args = parser.parse_args()
    if args.runs < 10:
        parser.error('--runs must be at least 10')
    return args


def read_lightgcn_lines(path: str) -> Tensor:
    r"""Reads ``u i i i ...`` lines into a (user, item) ``edge_index``."""
    users: List[int] = []
    items: List[int] = []
    with open(path) as f:
        for line_number, line in enumerate(f, start=1):
            ids = line.split()
            if not ids:
                continue
            if not all(token.isdigit() for token in ids):
                raise ValueError(f"{path}:{line_number}: expected "
                                 f"non-negative integer ids")
            users.extend([int(ids[0])] * (len(ids) - 1))
            items.extend(int(token) for token in ids[1:])
    return torch.tensor([users, items], dtype=torch.long)


def load_ml1m(data_root: str) -> Tensor:
    path = osp.join(data_root, 'ml-1m', 'full_mulsetrank', 'train.txt')
    if not osp.isfile(path):
        raise FileNotFoundError(f"ML-1M training file not found at '{path}' "
                                f"(pass --data-root)")
    edge_index = read_lightgcn_lines(path)
    if edge_index.size(1) != NUM_EDGES or \
            int(edge_index[0].max()) >= NUM_USERS or \
            int(edge_index[1].max()) >= NUM_ITEMS:
        raise ValueError(f"'{path}' is not the expected ML-1M training graph "
                         f"({NUM_EDGES} edges, {NUM_USERS} users, item index "
                         f"space {NUM_ITEMS}); got {edge_index.size(1)} "
                         f"edges")
    return edge_index


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up (allocator, thread pool, cache fill for warm variants)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copy_bandwidth(size_mb: int, runs: int) -> Dict[str, float]:
    r"""Memory-bandwidth reference: ``dst.copy_(src)`` into a pre-touched
    buffer (``clone`` also pays the page faults of a fresh allocation, which
    is reported separately as ``clone_gb_per_s``)."""
    src = torch.ones(size_mb * 2**20 // 4)
    dst = torch.zeros_like(src)
    moved = 2 * src.numel() * src.element_size()  # read + write
    seconds = median_seconds(lambda: dst.copy_(src), runs)
    clone_seconds = median_seconds(lambda: src.clone(), runs)
    return {'bytes': moved, 'seconds': seconds, 'gb_per_s': moved / seconds /
            1e9, 'clone_seconds': clone_seconds,
            'clone_gb_per_s': moved / clone_seconds / 1e9}


def bytes_per_forward(mats: Tuple[Tensor, Tensor], num_layers: int,
                      dim: int, value_bytes: int) -> Tuple[int, int]:
    r"""Returns (compulsory bytes, bytes if every gathered row is re-read)
    of one cached bipartite forward pass (see the module docstring)."""
    compulsory = gather = 0
    for mat in mats:
        rows, cols = mat.shape
        nnz = mat.values().numel()
        index_bytes = mat.col_indices().element_size()
        csr = (rows + 1 + nnz) * index_bytes + nnz * value_bytes
        write = rows * dim * value_bytes
        compulsory += csr + cols * dim * value_bytes + write
        gather += csr + nnz * dim * value_bytes + write
    num_nodes = mats[0].size(0) + mats[0].size(1)
    accumulate = 3 * num_nodes * dim * value_bytes
    init = 2 * num_nodes * dim * value_bytes
    return (init + num_layers * (compulsory + accumulate),
            init + num_layers * (gather + accumulate))


def bench_layers(edge_index: Tensor, num_layers: int, dim: int, runs: int,
                 bandwidth: float) -> Dict[str, object]:
    gen = torch.Generator().manual_seed(num_layers)
    user = torch.randn(NUM_USERS, dim, generator=gen)
    item = torch.randn(NUM_ITEMS, dim, generator=gen)
    homogeneous = torch.stack([
        torch.cat([edge_index[0], edge_index[1] + NUM_USERS]),
        torch.cat([edge_index[1] + NUM_USERS, edge_index[0]]),
    ])
    pyg = LightGCN(NUM_USERS + NUM_ITEMS, dim, num_layers)
    with torch.no_grad():
        pyg.embedding.weight.copy_(torch.cat([user, item]))
    warm = LightGCNInference(num_layers)
    cold = LightGCNInference(num_layers, cached=False)
    warm_homogeneous = LightGCNInference(num_layers)

    with torch.no_grad():
        expected = pyg.get_embedding(homogeneous)
        ours = torch.cat(warm((user, item), edge_index))
        ours_homogeneous = warm_homogeneous(torch.cat([user, item]),
                                            homogeneous)
        times = {
            'pyg': median_seconds(lambda: pyg.get_embedding(homogeneous),
                                  runs),
            'ours_warm': median_seconds(lambda: warm((user, item),
                                                     edge_index), runs),
            'ours_cold': median_seconds(lambda: cold((user, item),
                                                     edge_index), runs),
            'ours_homogeneous_warm': median_seconds(
                lambda: warm_homogeneous(torch.cat([user, item]),
                                         homogeneous), runs),
        }
    compulsory, gather = bytes_per_forward(warm._cache.mats, num_layers, dim,
                                           user.element_size())
    achieved = compulsory / times['ours_warm']
    return {
        'num_layers': num_layers,
        'median_seconds': times,
        'speedup_warm_vs_pyg': times['pyg'] / times['ours_warm'],
        'speedup_cold_vs_pyg': times['pyg'] / times['ours_cold'],
        'speedup_homogeneous_warm_vs_pyg':
        times['pyg'] / times['ours_homogeneous_warm'],
        'max_abs_diff_vs_pyg': float((ours - expected).abs().max()),
        'max_abs_diff_homogeneous_vs_pyg':
        float((ours_homogeneous - expected).abs().max()),
        'bytes_per_forward': compulsory,
        'bytes_per_forward_gather': gather,
        'achieved_gb_per_s': achieved / 1e9,
        'fraction_of_copy_bandwidth': achieved / 1e9 / bandwidth,
        'achieved_gb_per_s_gather_model': gather / times['ours_warm'] / 1e9,
        'fraction_of_copy_bandwidth_gather_model':
        gather / times['ours_warm'] / 1e9 / bandwidth,
    }


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    edge_index = load_ml1m(args.data_root)
    load_before = os.getloadavg()
    bandwidth = copy_bandwidth(args.copy_mb, args.runs)
    results = [
        bench_layers(edge_index, num_layers, args.dim, args.runs,
                     bandwidth['gb_per_s']) for num_layers in args.layers
    ]
    report = {
        'command': ' '.join(['python'] + sys.argv),
        'time': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'machine': {
            'cpu_model': cpu_model(),
            'logical_cpus': os.cpu_count(),
            'torch_threads': torch.get_num_threads(),
            'loadavg_before': load_before,
            'loadavg_after': os.getloadavg(),
            'torch': torch.__version__,
            'torch_geometric': torch_geometric.__version__,
            'mkl': torch.backends.mkl.is_available(),
            'python': platform.python_version(),
        },
        'graph': {
            'dataset': 'ml-1m/full_mulsetrank/train.txt',
            'num_users': NUM_USERS,
            'num_items': NUM_ITEMS,
            'num_edges': int(edge_index.size(1)),
            'dim': args.dim,
        },
        'runs': args.runs,
        'copy_reference': bandwidth,
        'results': results,
    }
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=2)
    for row in results:
        t = row['median_seconds']
        print(f"L={row['num_layers']}: pyg {t['pyg'] * 1e3:.1f} ms | ours "
              f"warm {t['ours_warm'] * 1e3:.2f} ms "
              f"({row['speedup_warm_vs_pyg']:.1f}x) | cold "
              f"{t['ours_cold'] * 1e3:.1f} ms "
              f"({row['speedup_cold_vs_pyg']:.1f}x) | homogeneous warm "
              f"{t['ours_homogeneous_warm'] * 1e3:.2f} ms | "
              f"{row['achieved_gb_per_s']:.1f} GB/s = "
              f"{row['fraction_of_copy_bandwidth']:.2f} of copy "
              f"{bandwidth['gb_per_s']:.1f} GB/s | max diff "
              f"{row['max_abs_diff_vs_pyg']:.1e}")
    print(f"wrote {args.out}")


if __name__ == '__main__':
    main()
