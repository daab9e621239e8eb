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

Writes ``benchmarks/results/propagation.json``: the header of :mod:`common`,
``graph``, ``runs``, ``copy_reference`` (``bytes``, ``seconds``,
``gb_per_s``, ``clone_seconds``, ``clone_gb_per_s``, the timing lists
``seconds_list`` / ``clone_seconds_list`` and ``megabytes``) and
``results``, one row per number of layers (``median_seconds`` and the
timing lists ``seconds`` per variant, the speed-ups against PyG, the
largest difference from PyG's output and the byte model above). ``--quick``
runs the Office training graph instead of ML-1M::

    python benchmarks/bench_propagation.py [--data-root ../shared/data] \
        [--threads 2] [--quick]
"""
import statistics
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.nn.models import LightGCN

import common
from torch_geometric_infodcl.nn.lightgcn_inference import LightGCNInference

NAME = 'propagation'
STUDY_KEYS = ('graph', 'runs', 'copy_reference', 'results')
SETTINGS = {
    'full': dict(layers=[2, 3], runs=10, copy_mb=512, dim=64),
    'quick': dict(layers=[2], runs=2, copy_mb=16, dim=64),
}


def timing(fn: Callable[[], object], runs: int) -> Tuple[float, List[float]]:
    times = common.timed(fn, runs)
    return statistics.median(times), times


def copy_bandwidth(size_mb: int, runs: int) -> Dict[str, object]:
    r"""Memory-bandwidth reference: ``dst.copy_(src)`` into a pre-touched
    buffer (``clone`` also pays the page faults of a fresh allocation, which
    is reported separately as ``clone_gb_per_s``)."""
    src = torch.ones(size_mb * 2**20 // 4)
    dst = torch.zeros_like(src)
    moved = 2 * src.numel() * src.element_size()  # read + write
    seconds, seconds_list = timing(lambda: dst.copy_(src), runs)
    clone_seconds, clone_list = timing(lambda: src.clone(), runs)
    return dict(bytes=moved, seconds=seconds, gb_per_s=moved / seconds / 1e9,
                clone_seconds=clone_seconds,
                clone_gb_per_s=moved / clone_seconds / 1e9,
                seconds_list=seconds_list, clone_seconds_list=clone_list,
                megabytes=size_mb)


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


def bench_layers(edge_index: Tensor, num_users: int, num_items: int,
                 num_layers: int, dim: int, runs: int,
                 bandwidth: float) -> Dict[str, object]:
    gen = torch.Generator().manual_seed(num_layers)
    user = torch.randn(num_users, dim, generator=gen)
    item = torch.randn(num_items, dim, generator=gen)
    homogeneous = torch.stack([
        torch.cat([edge_index[0], edge_index[1] + num_users]),
        torch.cat([edge_index[1] + num_users, edge_index[0]]),
    ])
    pyg = LightGCN(num_users + num_items, dim, num_layers)
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
        timings = {
            'pyg': timing(lambda: pyg.get_embedding(homogeneous), runs),
            'ours_warm': timing(lambda: warm((user, item), edge_index), runs),
            'ours_cold': timing(lambda: cold((user, item), edge_index), runs),
            'ours_homogeneous_warm': timing(
                lambda: warm_homogeneous(torch.cat([user, item]),
                                         homogeneous), runs),
        }
    times = {name: median for name, (median, _) in timings.items()}
    compulsory, gather = bytes_per_forward(warm._cache.mats, num_layers, dim,
                                           user.element_size())
    achieved = compulsory / times['ours_warm']
    return {
        'num_layers': num_layers,
        'median_seconds': times,
        'seconds': {name: times for name, (_, times) in timings.items()},
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


def load_graph(data_root: str, quick: bool) -> Tuple[Tensor, Dict]:
    if quick:
        edge_index = common.read_office(data_root)
        graph = dict(dataset='office/train.txt',
                     num_users=common.OFFICE_USERS,
                     num_items=common.OFFICE_ITEMS)
    else:
        edge_index = common.read_ml1m(data_root)
        graph = dict(dataset='ml-1m/full_mulsetrank/train.txt',
                     num_users=common.ML1M_USERS,
                     num_items=common.ML1M_ITEMS)
    return edge_index, dict(graph, num_edges=int(edge_index.size(1)))


def bench_propagation(data_root: str, cfg: Dict, quick: bool) -> Dict:
    torch.manual_seed(0)
    edge_index, graph = load_graph(data_root, quick)
    copy = copy_bandwidth(cfg['copy_mb'], cfg['runs'])
    results = [
        bench_layers(edge_index, graph['num_users'], graph['num_items'],
                     num_layers, cfg['dim'], cfg['runs'], copy['gb_per_s'])
        for num_layers in cfg['layers']
    ]
    return dict(graph=dict(graph, dim=cfg['dim']), runs=cfg['runs'],
                copy_reference=copy, results=results)


def describe(report: Dict) -> None:
    copy = report['copy_reference']['gb_per_s']
    print(f"LightGCNInference vs PyG LightGCN.get_embedding, "
          f"{report['graph']['dataset']}")
    for row in report['results']:
        t = row['median_seconds']
        print(f"  L={row['num_layers']}: pyg {common.ms(t['pyg'])} | ours "
              f"warm {common.ms(t['ours_warm'])} "
              f"({row['speedup_warm_vs_pyg']:.1f}x) | cold "
              f"{common.ms(t['ours_cold'])} "
              f"({row['speedup_cold_vs_pyg']:.1f}x) | homogeneous warm "
              f"{common.ms(t['ours_homogeneous_warm'])} | "
              f"{row['achieved_gb_per_s']:.1f} GB/s = "
              f"{row['fraction_of_copy_bandwidth']:.2f} of copy "
              f"{copy:.1f} GB/s | max diff {row['max_abs_diff_vs_pyg']:.1e}")


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = common.parser(__doc__, NAME)
    parser.add_argument('--layers', type=common.positive_int, nargs='+')
    parser.add_argument('--runs', type=common.positive_int,
                        help='timed calls per figure (at least 10 unless '
                        '--quick)')
    parser.add_argument('--copy-mb', type=common.positive_int)
    args = parser.parse_args(argv)
    cfg = dict(SETTINGS['quick' if args.quick else 'full'])
    cfg.update({key: getattr(args, key) for key in ('layers', 'runs',
                                                    'copy_mb')
                if getattr(args, key) is not None})
    if not args.quick and cfg['runs'] < 10:
        parser.error('--runs must be at least 10 (or pass --quick)')
    return common.run_report(
        __file__, argv, args, NAME, cfg,
        lambda: bench_propagation(args.data_root, cfg, args.quick), describe)


if __name__ == '__main__':
    main()
