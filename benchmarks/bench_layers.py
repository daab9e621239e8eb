r"""Throughput of InfoDCL's two trainable layers on CPU.

Forward + backward of :class:`PSNetNoise` ``(64, metadata_dim=64)`` and of
:meth:`DiffusionDenoiser.p_losses` ``(64)`` on a ``B = 2000``, ``d = 64``
batch in train mode (random upstream gradients, gradients reset before every
call; both denoiser inputs carry gradients, as the item rows and PSNet's
noise do in InfoDCL): ms per batch and samples/s, the median of ``runs``
timed calls after one untimed warm-up.

Writes ``benchmarks/results/layers.json``: the header of
:mod:`common` and ``modules`` = ``{psnet, denoiser_p_losses}``, each
``{seconds, median_seconds, batch_size, ms_per_batch_median,
samples_per_second_median, module, dim}`` (the ``modules`` section of the
former ``bench_speed.py``)::

    python benchmarks/bench_layers.py [--threads 2] [--quick]
"""
import statistics
import sys
from typing import Dict, List, Optional, Sequence

import torch

import common
from torch_geometric_infodcl.nn import DiffusionDenoiser, PSNetNoise

NAME = 'layers'
STUDY_KEYS = ('modules', )
BATCH_SIZE, DIM = 2000, 64
RUNS = {'full': 20, 'quick': 2}


def throughput(times: List[float], batch_size: int, **extra) -> Dict:
    median = statistics.median(times)
    return common.summary(times, batch_size=batch_size,
                          ms_per_batch_median=median * 1e3,
                          samples_per_second_median=batch_size / median,
                          **extra)


def bench_modules(runs: int) -> Dict[str, Dict]:
    torch.manual_seed(0)
    psnet = PSNetNoise(DIM, metadata_dim=DIM).train()
    noise, metadata, grad = torch.randn(3, BATCH_SIZE, DIM).unbind(0)

    def psnet_step():
        psnet.zero_grad(set_to_none=True)
        psnet(noise, metadata).backward(grad)

    denoiser = DiffusionDenoiser(DIM).train()
    x0 = torch.randn(BATCH_SIZE, DIM, requires_grad=True)
    eps = torch.randn(BATCH_SIZE, DIM, requires_grad=True)

    def denoiser_step():
        denoiser.zero_grad(set_to_none=True)
        x0.grad = eps.grad = None
        x0_hat, loss = denoiser.p_losses(x0, noise=eps)
        torch.autograd.backward([x0_hat, loss], [grad, torch.ones(())])

    return dict(
        psnet=throughput(common.timed(psnet_step, runs), BATCH_SIZE,
                         module=repr(psnet), dim=DIM),
        denoiser_p_losses=throughput(common.timed(denoiser_step, runs),
                                     BATCH_SIZE, module=repr(denoiser),
                                     dim=DIM))


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = common.parser(__doc__, NAME, data=False).parse_args(argv)
    runs = RUNS['quick' if args.quick else 'full']
    return common.run_report(
        __file__, argv, args, NAME,
        dict(runs=runs, batch_size=BATCH_SIZE, dim=DIM),
        lambda: dict(modules=bench_modules(runs)), describe)


def describe(report: Dict) -> None:
    print(f'forward + backward, B={BATCH_SIZE}, d={DIM}, train mode')
    for row in report['modules'].values():
        print(f"  {row['module']}: {row['ms_per_batch_median']:.2f} ms/batch, "
              f"{row['samples_per_second_median']:,.0f} samples/s")


if __name__ == '__main__':
    main()
