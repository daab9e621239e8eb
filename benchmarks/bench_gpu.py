r"""InfoDCL and PyG LightGCN on one GPU: epoch time, step breakdown, peak GPU
memory, and LightGCN's Gowalla quality within a fixed time.

For each dataset (Office, ML-1M, Gowalla), model (InfoDCL with the authors'
defaults and two 64-d metadata channels; PyG LightGCN, 3 layers, batch
2,048, lr 0.001, L2 1e-4) and precision (fp32, bf16 autocast):

* ``epoch_seconds``: one full training epoch as :class:`Trainer` runs it
  (the epoch's triples and negatives sampled on the device, ``zero_grad``,
  ``loss``, ``backward``, ``Adam.step`` per batch, one synchronisation at
  the end), after a few warm-up steps;
* ``breakdown``: the median of ``runs`` steps split into sampling (per
  batch share of the epoch's sampling), forward, backward and optimizer,
  with a device synchronisation after each phase;
* ``peak_gpu_mib``: :func:`torch.cuda.max_memory_allocated` over the
  configuration.

A configuration that fails (e.g. a sparse kernel without bf16 support)
is recorded with its ``error`` and the others still run. The metadata are
random tensors of the real shape (timing does not depend on
their values). Then PyG LightGCN trains on Gowalla with :class:`Trainer`
(validation every 5 epochs, best validation epoch reported) for as many
epochs as fit into ``--quality-seconds``, and its test Recall@20 / NDCG@20
are set beside the published LightGCN figures (0.1830 / 0.1554; the paper
trains on all training interactions and reports its best test epoch, we hold
out a validation split and report test at the best validation epoch).

CUDA matmul settings: TF32 is left off (``torch.backends.cuda.matmul.
allow_tf32 = False``, PyTorch's default) so that fp32 means fp32; the bf16
rows use autocast. Finishes in under 8 minutes on one H100/H200 (the
defaults). ``--quick --device cpu`` is a smoke test of seconds on a tiny
synthetic dataset whose figures mean nothing::

    python benchmarks/bench_gpu.py [--data-root ../shared/data]
    python benchmarks/bench_gpu.py --quick --device cpu --threads 1

Writes ``benchmarks/results/gpu/gpu.json`` (with ``--quick``, a file in the
temporary folder).
"""
import os.path as osp
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

import torch
from torch.nn import Module

import common
from torch_geometric_infodcl.config import TrainConfig
from torch_geometric_infodcl.data import NegativeSampler
from torch_geometric_infodcl.datasets.synthetic import generate_synthetic
from torch_geometric_infodcl.experiment import load_data
from torch_geometric_infodcl.models import InfoDCL, PyGLightGCN
from torch_geometric_infodcl.train import Trainer
from torch_geometric_infodcl.typing import EDGE_TYPE

NAME = 'gpu'
STUDY_KEYS = ('epochs', 'lightgcn_gowalla_quality')
DATASETS = ('office', 'ml-1m', 'gowalla')
MODELS = ('infodcl', 'lightgcn')
PRECISIONS = ('fp32', 'bf16')
PUBLISHED = {'recall@20': 0.1830, 'ndcg@20': 0.1554}  # LightGCN, SIGIR '20
LIGHTGCN = dict(dim=64, num_layers=3, reg_weight=1e-4)
LIGHTGCN_TRAIN = dict(batch_size=2048, lr=0.001)
INFODCL_BATCH = 2000
SIZES = {'full': dict(warmup=3, runs=20, quality_eval_every=5,
                     max_quality_epochs=1000),
         'quick': dict(warmup=1, runs=2, quality_eval_every=1,
                      max_quality_epochs=2)}


def load(name: str, args) -> Any:
    if args.quick:  # a toy stand-in for every dataset
        return generate_synthetic(num_users=120, num_items=80, avg_degree=8,
                                  seed=DATASETS.index(name))
    data, _ = load_data(name, common.default_root(False),
                        osp.join(args.data_root, name))
    return data


def build(kind: str, data: Any, device: torch.device) -> Module:
    torch.manual_seed(0)
    num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
    if kind == 'lightgcn':
        model = PyGLightGCN(num_users, num_items, **LIGHTGCN)
        model.set_graph(data[EDGE_TYPE].edge_index.to(device))
        return model.to(device)
    metadata = {name: torch.randn(num_items, 64)
                for name in ('social', 'knowledge')}
    return InfoDCL(num_users, num_items, metadata=metadata).to(device)


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed_phases(phases: Dict[str, Callable[[], Any]],
                 device: torch.device) -> Dict[str, float]:
    out = {}
    for name, phase in phases.items():
        start = time.perf_counter()
        phase()
        synchronize(device)
        out[name] = time.perf_counter() - start
    return out


def measure(kind: str, data: Any, precision: str, device: torch.device,
            sizes: Dict[str, int], max_steps: int) -> Dict[str, Any]:
    model = build(kind, data, device)
    batch_size = LIGHTGCN_TRAIN['batch_size'] if kind == 'lightgcn' else \
        INFODCL_BATCH
    edge_index = data[EDGE_TYPE].edge_index.to(device)
    sampler = NegativeSampler(edge_index, data['user'].num_nodes,
                              data['item'].num_nodes)
    generator = torch.Generator(device=device).manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    bf16 = precision == 'bf16'
    state: Dict[str, Any] = {}

    def forward(batch):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            state['total'] = model.loss(batch)[0]

    def step(batch):
        forward(batch)
        state['total'].backward()
        optimizer.step()

    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    batches = sampler.epoch_batches(batch_size, generator)
    for _ in range(sizes['warmup']):
        step(next(batches))
    synchronize(device)

    # One epoch (or its first max_steps batches, scaled to the epoch).
    num_batches = sampler.num_batches(batch_size)
    start = time.perf_counter()
    steps = 0
    for batch in sampler.epoch_batches(batch_size, generator):
        step(batch)
        steps += 1
        if steps == max_steps:
            break
    synchronize(device)
    epoch_seconds = (time.perf_counter() - start) * num_batches / steps

    sampling = timed_phases({'sampling': lambda: next(iter(
        sampler.epoch_batches(batch_size, generator)))}, device)
    rows: List[Dict[str, float]] = []
    for _ in range(sizes['runs']):
        batch = next(batches, None) or next(iter(sampler.epoch_batches(
            batch_size, generator)))
        rows.append(timed_phases({
            'forward': lambda: forward(batch),
            'backward': lambda: state['total'].backward(),
            'optimizer': optimizer.step}, device))
    breakdown = {name: statistics.median(row[name] for row in rows)
                 for name in rows[0]}
    breakdown['sampling_per_batch'] = sampling['sampling'] / num_batches
    loss = float(state['total'].detach())
    if not torch.isfinite(torch.tensor(loss)):
        raise FloatingPointError(f'{kind} {precision}: non-finite loss {loss}')
    return dict(
        epoch_seconds=epoch_seconds, steps_timed=steps,
        num_batches=num_batches, batch_size=batch_size,
        breakdown_seconds=breakdown, last_loss=loss,
        peak_gpu_mib=(torch.cuda.max_memory_allocated(device) / 2**20
                      if device.type == 'cuda' else None))


def lightgcn_quality(data: Any, device: torch.device, seconds: float,
                     epoch_seconds: float, eval_every: int,
                     max_epochs: int) -> Dict[str, Any]:
    # Evaluation costs little next to training on a GPU: a 10% margin.
    epochs = max(eval_every,
                 min(max_epochs, int(seconds / (1.1 * epoch_seconds))))
    epochs -= epochs % eval_every
    model = build('lightgcn', data, device)
    config = TrainConfig(epochs=epochs, eval_every=eval_every,
                         patience=10**6, device=str(device), progress=False,
                         ks=(20, ), monitor='recall@20', **LIGHTGCN_TRAIN)
    start = time.perf_counter()
    result = Trainer(model, data, config).fit()
    return dict(
        epochs=epochs, wall_seconds=time.perf_counter() - start,
        best_epoch=result['best_epoch'], valid=result['valid'],
        test=result['test'], published=PUBLISHED,
        ratio_to_published={key: result['test'][key] / value
                            for key, value in PUBLISHED.items()})


def main(argv: List[str]) -> Dict[str, Any]:
    p = common.parser(__doc__, NAME)
    p.add_argument('--device', default='cuda',
                   help="'cuda' (default) or 'cpu' (with --quick)")
    p.add_argument('--quality-seconds', type=float, default=150.0,
                   help='training time of the Gowalla LightGCN run '
                   '(default: 150)')
    p.add_argument('--max-epoch-steps', type=common.positive_int,
                   default=None, help='time at most this many steps of an '
                   'epoch and scale to the whole epoch (default: all)')
    args = p.parse_args(argv)
    device = TrainConfig(device=args.device).resolve_device()
    if device.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 is fp32
        torch.backends.cudnn.allow_tf32 = False
    elif not args.quick:
        p.error('without CUDA only --quick --device cpu runs (a smoke test)')
    sizes = SIZES['quick' if args.quick else 'full']
    max_steps = args.max_epoch_steps or (3 if args.quick else 10**9)
    settings = dict(device=str(device), datasets=DATASETS, models=MODELS,
                    precisions=PRECISIONS, lightgcn=LIGHTGCN,
                    lightgcn_train=LIGHTGCN_TRAIN,
                    infodcl_batch=INFODCL_BATCH,
                    quality_seconds=args.quality_seconds,
                    max_epoch_steps=args.max_epoch_steps, **sizes)

    def study() -> Dict[str, Any]:
        epochs: Dict[str, Any] = {}
        data = {}
        for name in DATASETS:
            data[name] = load(name, args)
            for kind in MODELS:
                for precision in PRECISIONS:
                    key = f'{name}/{kind}/{precision}'
                    try:
                        epochs[key] = measure(kind, data[name], precision,
                                              device, sizes, max_steps)
                    except (RuntimeError, NotImplementedError) as e:
                        # e.g. a sparse kernel without bf16: recorded, the
                        # other configurations still run.
                        epochs[key] = dict(error=str(e).split('\n')[0])
                    print(f'{key}: {epochs[key]}', flush=True)
        quality = lightgcn_quality(
            data['gowalla'], device, args.quality_seconds,
            epochs['gowalla/lightgcn/fp32']['epoch_seconds'],
            sizes['quality_eval_every'], sizes['max_quality_epochs'])
        return dict(epochs=epochs, lightgcn_gowalla_quality=quality)

    def describe(report: Dict[str, Any]) -> None:
        print(f"{'dataset/model/precision':<28}{'epoch s':>9}{'fwd ms':>9}"
              f"{'bwd ms':>9}{'opt ms':>9}{'peak MiB':>10}")
        for key, row in report['epochs'].items():
            if 'error' in row:
                print(f"{key:<28} failed: {row['error']}")
                continue
            b = row['breakdown_seconds']
            peak = row['peak_gpu_mib']
            print(f"{key:<28}{row['epoch_seconds']:>9.2f}"
                  f"{b['forward'] * 1e3:>9.1f}{b['backward'] * 1e3:>9.1f}"
                  f"{b['optimizer'] * 1e3:>9.1f}"
                  f"{'-' if peak is None else f'{peak:.0f}':>10}")
        q = report['lightgcn_gowalla_quality']
        print(f"LightGCN Gowalla, {q['epochs']} epochs: test recall@20 "
              f"{q['test']['recall@20']:.4f} (published 0.1830), ndcg@20 "
              f"{q['test']['ndcg@20']:.4f} (published 0.1554)")

    if args.out is None and not args.quick:
        args.out = osp.join(common.RESULTS_DIR, 'gpu', f'{NAME}.json')
    return common.run_report(__file__, argv, args, NAME, settings, study,
                             describe)


if __name__ == '__main__':
    main(sys.argv[1:])
