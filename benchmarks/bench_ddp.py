r"""The cost of the distributed path on one machine: InfoDCL training steps
with 2 gloo processes of 1 thread each (``torchrun --nproc_per_node=2``,
DistributedDataParallel, each process half of every global batch) against
one process with 2 threads, side by side on the same cores.

Each side runs in a fresh process: ``--warmup`` untimed global steps, then
``--steps`` timed global steps of the global batch (``--batch-size``) as
:class:`Trainer` runs them (the epoch's triples sampled at once, ``loss``
through :func:`~torch_geometric_infodcl.distributed.training_module`,
``backward`` with the gradient all-reduce, ``Adam.step``). The epoch time
is the median step time times the epoch's number of batches. The target of
the issue: the 2-process epoch at most 1.2x the 1-process one (on one
machine DDP cannot be faster; it must not cost much). The metadata are
random tensors of the real shape (timing only)::

    python benchmarks/bench_ddp.py [--dataset ml-1m] [--steps 40]
    python benchmarks/bench_ddp.py --quick          # synthetic, seconds

Writes ``benchmarks/results/ddp.json`` (with ``--quick``, a file in the
temporary folder).
"""
import argparse
import os
import os.path as osp
import socket
import statistics
import sys
from typing import Any, Dict, List

import torch

import common
from torch_geometric_infodcl import distributed
from torch_geometric_infodcl.data import NegativeSampler
from torch_geometric_infodcl.experiment import load_data
from torch_geometric_infodcl.models import InfoDCL
from torch_geometric_infodcl.typing import EDGE_TYPE

NAME = 'ddp'
STUDY_KEYS = ('one_process_two_threads', 'two_processes_one_thread',
              'ratio_epoch')
SIZES = {'full': dict(steps=40, warmup=3), 'quick': dict(steps=2, warmup=1)}


def child(args: argparse.Namespace) -> None:
    r"""One side of the comparison (run by :func:`main` in a fresh
    process, under torchrun for the 2-process side)."""
    torch.set_num_threads(args.threads)
    with distributed.launch(torch.device('cpu')) as (rank, world_size):
        root = osp.join(common.QUICK_DIR if args.quick else common.REPO_ROOT,
                        'data')
        raw_dir = None if args.dataset == 'synthetic' else osp.join(
            args.data_root, args.dataset)
        with distributed.main_first():
            data, _ = load_data(args.dataset, root, raw_dir)
        num_users, num_items = data['user'].num_nodes, data['item'].num_nodes
        torch.manual_seed(0)
        model = InfoDCL(num_users, num_items, metadata={
            name: torch.randn(num_items, 64)
            for name in ('social', 'knowledge')})
        sampler = NegativeSampler(data[EDGE_TYPE].edge_index, num_users,
                                  num_items)
        module = distributed.training_module(model, torch.device('cpu'))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
        generator = torch.Generator().manual_seed(0)
        torch.manual_seed(rank)

        def batches():
            while True:
                yield from sampler.epoch_batches(args.batch_size, generator,
                                                 rank, world_size)

        stream = batches()

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            total, _ = module(next(stream))
            total.backward()
            optimizer.step()

        times = common.timed(step, args.steps, args.warmup)
        if rank == 0:
            median = statistics.median(times)
            common.emit(dict(
                world_size=world_size, threads=args.threads,
                step_seconds=times, median_step_seconds=median,
                num_batches=sampler.num_batches(args.batch_size, world_size),
                epoch_seconds=median * sampler.num_batches(args.batch_size,
                                                           world_size)))


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def main(argv: List[str]) -> Dict[str, Any]:
    p = common.parser(__doc__, NAME)
    p.add_argument('--dataset', default=None,
                   help='ml-1m (default) or any dataset name of the CLI; '
                   'with --quick: synthetic')
    p.add_argument('--batch-size', type=common.positive_int, default=2000,
                   help='global batch (default: 2000)')
    p.add_argument('--steps', type=common.positive_int, default=None,
                   help='timed global steps per side (default: 40)')
    p.add_argument('--warmup', type=common.positive_int, default=None)
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = SIZES['quick' if args.quick else 'full']
    args.steps = args.steps or sizes['steps']
    args.warmup = args.warmup or sizes['warmup']
    args.dataset = args.dataset or ('synthetic' if args.quick else 'ml-1m')
    if args.child:
        return child(args)

    shared = ['--dataset', args.dataset, '--batch-size', str(args.batch_size),
              '--steps', str(args.steps), '--warmup', str(args.warmup),
              '--data-root', args.data_root, '--child'] + (
                  ['--quick'] if args.quick else [])
    env = dict(os.environ, OMP_NUM_THREADS='1')
    os.environ.update(env)  # the children inherit it
    settings = dict(dataset=args.dataset, batch_size=args.batch_size,
                    steps=args.steps, warmup=args.warmup, model='infodcl')

    def study() -> Dict[str, Any]:
        one = common.run_child([sys.executable, __file__, '--threads', '2',
                                *shared])
        two = common.run_child([
            sys.executable, '-m', 'torch.distributed.run',
            '--nproc_per_node=2', '--master_addr=127.0.0.1',
            f'--master_port={_free_port()}', __file__, '--threads', '1',
            *shared])
        ratio = (two['epoch_seconds'] / one['epoch_seconds']
                 if one['status'] == two['status'] == 'ok' else None)
        return dict(one_process_two_threads=one,
                    two_processes_one_thread=two, ratio_epoch=ratio)

    def describe(report: Dict[str, Any]) -> None:
        for key in STUDY_KEYS[:2]:
            row = report[key]
            print(f"{key}: " + (f"epoch {row['epoch_seconds']:.2f} s "
                                f"({row['num_batches']} steps of "
                                f"{row['median_step_seconds'] * 1e3:.1f} ms)"
                                if row['status'] == 'ok' else
                                f"failed: {row['stderr_tail'][-300:]}"))
        if report['ratio_epoch'] is not None:
            print(f"2 processes / 1 process: {report['ratio_epoch']:.3f} "
                  f"(target <= 1.2)")

    return common.run_report(__file__, argv, args, NAME, settings, study,
                             describe)


if __name__ == '__main__':
    main(sys.argv[1:])
