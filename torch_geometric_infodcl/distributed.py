r"""Multi-process training with PyTorch's own engine: :mod:`torch.distributed`
process groups (gloo on CPU, NCCL on CUDA) started by :obj:`torchrun`, and
:class:`~torch.nn.parallel.DistributedDataParallel` for the gradients.

What :class:`~torch_geometric_infodcl.train.Trainer` asks of this module:

* :func:`world`: the rank and world size of the process group in effect
  (:obj:`(0, 1)` without one), so that a single process is the special case
  :obj:`world_size == 1` of every code path;
* :func:`shard_range`: the contiguous, padding-free split of :obj:`n` rows
  over the ranks (the rows of each global batch, the users of an
  evaluation);
* :func:`training_module`: the model's :obj:`loss` behind
  :class:`DistributedDataParallel` (replicated tables, gradients averaged
  over the ranks);
* :func:`all_reduce_sum`, :func:`gather_objects`, :func:`share_from_main`:
  the few collectives the trainer needs (loss values once per epoch or step,
  every rank's random number generators for the checkpoint, the checkpoint
  and its checks from rank 0 to the others);
* :func:`sharded_full_rank_metrics`: each rank scores its own users, the
  per-user sums and counts are added with :func:`all_reduce_sum`.

:func:`launch` starts the process group from :obj:`torchrun`'s environment
(:obj:`RANK`, :obj:`WORLD_SIZE`, :obj:`LOCAL_RANK`, :obj:`MASTER_ADDR`,
:obj:`MASTER_PORT`) and ends it; failures raise :class:`DistributedError`
naming the cause.
"""
import contextlib
import os
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
)

import torch
import torch.distributed as dist
from torch import Tensor

from torch_geometric_infodcl.metrics import (
    full_rank_metric_sums,
    metric_means,
)
from torch_geometric_infodcl.utils.shards import shard_range

__all__ = [
    'DistributedError', 'LossModule', 'all_reduce_sum', 'gather_objects',
    'launch', 'main_first', 'share_from_main', 'shard_range',
    'sharded_full_rank_metrics', 'training_module', 'world',
    'world_of_environment'
]

#: The environment variables :obj:`torchrun` sets for every worker.
TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                'MASTER_PORT')


class DistributedError(RuntimeError):
    r"""A process group that cannot start or a run that cannot go on in
    it (a rank that failed, an environment :obj:`torchrun` did not set)."""


def world() -> Tuple[int, int]:
    r"""Returns :obj:`(rank, world_size)` of the default process group, or
    :obj:`(0, 1)` when none is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sum(tensor: Tensor) -> Tensor:
    r"""Adds :obj:`tensor` over the ranks (in place) and returns it; the
    identity for a single process."""
    if world()[1] > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather_objects(obj: Any) -> Optional[List[Any]]:
    r"""Returns the picklable :obj:`obj` of every rank, in rank order, on
    rank 0 (:obj:`None` on the others); :obj:`[obj]` for a single
    process."""
    rank, world_size = world()
    if world_size == 1:
        return [obj]
    out = [None] * world_size if rank == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def share_from_main(obj: Any, error: Optional[BaseException] = None) -> Any:
    r"""Returns rank 0's :obj:`obj` on every rank; if rank 0 passes an
    :obj:`error`, every rank raises it (so that all ranks stop on a check
    only rank 0 can make, such as reading the checkpoint)."""
    if world()[1] > 1:
        box = [(obj, error)]
        dist.broadcast_object_list(box, src=0)
        obj, error = box[0]
    if error is not None:
        raise error
    return obj


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    r"""Runs the block on rank 0 first and on the other ranks after it (e.g.
    a dataset's first processing, which writes its cache)."""
    rank, world_size = world()
    if world_size > 1 and rank != 0:
        dist.barrier()
    yield
    if world_size > 1 and rank == 0:
        dist.barrier()


class LossModule(torch.nn.Module):
    r"""Makes a model's :obj:`loss(batch)` its :meth:`forward`, the call
    :class:`~torch.nn.parallel.DistributedDataParallel` hooks into.

    Args:
        model (torch.nn.Module): A model of the
            :class:`~torch_geometric_infodcl.models.protocol.
            RecommenderModel` protocol.
    """
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any) -> Tuple[Tensor, Dict[str, Tensor]]:
        return self.model.loss(batch)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({type(self.model).__name__})'


def training_module(model: torch.nn.Module,
                    device: torch.device) -> Callable[..., Any]:
    r"""Returns what the trainer calls to compute :obj:`model.loss(batch)`:
    the bound method itself in a single process, :class:`LossModule` wrapped
    in :class:`~torch.nn.parallel.DistributedDataParallel` in a process
    group.

    Every rank holds the whole model (replicated tables; a loss over the
    full item table works as in one process) and DDP averages the gradients
    over the ranks during :meth:`backward`; a model with
    :obj:`set_world_size(n)` is told the process count first, so that a term
    summed over the batch can keep the one-process objective.
    :obj:`static_graph=True` lets a
    model leave parameters unused in every step (e.g. the PSNet of
    :obj:`InfoDCL(noise='gaussian')`) without
    :obj:`find_unused_parameters`'s graph traversal per step. Buffers are
    never broadcast: they are data (metadata, the training graph) that every
    rank builds alike."""
    world_size = world()[1]
    if world_size == 1:
        return model.loss
    if hasattr(model, 'set_world_size'):
        # A loss that sums over the batch rescales itself (InfoDCL's
        # InfoNCE): DDP averages the shards' gradients.
        model.set_world_size(world_size)
    module = LossModule(model)
    if not any(p.requires_grad for p in model.parameters()):
        raise DistributedError(f"{type(model).__name__} has no trainable "
                               f"parameters to train in parallel")
    device_ids = [device.index if device.index is not None else
                  torch.cuda.current_device()] if device.type == 'cuda' \
        else None
    ddp = torch.nn.parallel.DistributedDataParallel
    # Buffers are data (metadata, the training graph, possibly as sparse
    # CSR, which DDP cannot broadcast): built alike on every rank, never
    # synchronised. The parameters are broadcast from rank 0 once.
    ddp._set_params_and_buffers_to_ignore_for_model(
        module, [name for name, _ in module.named_buffers()])
    return ddp(module, device_ids=device_ids, static_graph=True)


def sharded_full_rank_metrics(
    user_emb: Tensor,
    item_emb: Tensor,
    target_edge_index: Tensor,
    exclude_edge_index: Optional[Any] = None,
    ks: Sequence[int] = (10, 20, 50),
    batch_size: int = 2048,
) -> Dict[str, float]:
    r""":func:`~torch_geometric_infodcl.metrics.full_rank_metrics` (standard
    protocol) with the evaluated users split over the ranks of the process
    group: rank :math:`r` scores the users :func:`shard_range` gives it
    against all items, and the per-user metric sums and the user counts are
    added over the ranks with one :func:`all_reduce_sum`. Each user counts
    exactly once, so the result is the single-process one (up to the order
    of the float64 additions). Every rank needs the full
    :obj:`user_emb` / :obj:`item_emb` (replicated tables) and receives the
    result. Arguments as in :func:`full_rank_metrics`."""
    rank, world_size = world()
    names, sums, count = full_rank_metric_sums(
        user_emb, item_emb, target_edge_index, exclude_edge_index, ks,
        batch_size, shard=(rank, world_size))
    totals = all_reduce_sum(torch.cat([sums, sums.new_tensor([count])]))
    values = totals.tolist()
    return metric_means(names, values[:-1], int(values[-1]))


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DistributedError(f"the environment variable {name} must be an "
                               f"integer (got {value!r}); start the "
                               f"processes with torchrun") from None


def launched_by_torchrun() -> bool:
    r"""Whether the environment asks for more than one process
    (:obj:`WORLD_SIZE` > 1, as :obj:`torchrun --nproc_per_node=N` sets)."""
    return 'WORLD_SIZE' in os.environ and _env_int('WORLD_SIZE') > 1


@contextlib.contextmanager
def launch(device: torch.device) -> Iterator[Tuple[int, int]]:
    r"""Starts the default process group from :obj:`torchrun`'s environment
    when it asks for more than one process, yields :obj:`(rank,
    world_size)` and destroys the group on exit; a single process yields
    :obj:`(0, 1)` and starts nothing.

    The backend is NCCL for a CUDA :obj:`device` (each rank on the GPU of
    its :obj:`LOCAL_RANK`) and gloo for the CPU. A failed start raises
    :class:`DistributedError` naming the backend, the rank and the
    rendezvous address.

    Args:
        device (torch.device): The device the run trains on (already
            checked, e.g. by :meth:`TrainConfig.resolve_device`).
    """
    if not launched_by_torchrun():
        yield 0, 1
        return
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if missing:
        raise DistributedError(f"WORLD_SIZE is set but {', '.join(missing)} "
                               f"not: start the processes with torchrun")
    rank, world_size = _env_int('RANK'), _env_int('WORLD_SIZE')
    backend = 'nccl' if device.type == 'cuda' else 'gloo'
    if device.type == 'cuda':
        local_rank = _env_int('LOCAL_RANK')
        if local_rank >= torch.cuda.device_count():
            raise DistributedError(
                f"rank {rank} has LOCAL_RANK {local_rank} but only "
                f"{torch.cuda.device_count()} CUDA devices are visible "
                f"(--nproc_per_node must not exceed the GPUs)")
        torch.cuda.set_device(local_rank)
    address = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        dist.init_process_group(backend, rank=rank, world_size=world_size)
    except (RuntimeError, ValueError) as e:
        cause = ' '.join(str(e).split()) or type(e).__name__
        raise DistributedError(f"cannot start torch.distributed ({backend}, "
                               f"rank {rank} of {world_size}, rendezvous "
                               f"{address}): {cause}") from e
    try:
        yield rank, world_size
    finally:
        dist.destroy_process_group()


def world_of_environment() -> Tuple[int, int]:
    r"""Returns :obj:`(rank, world_size)` as :obj:`torchrun` set them in the
    environment (:obj:`(0, 1)` when it did not or they are not integers),
    e.g. to label an error after the process group is gone."""
    try:
        return int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    except (KeyError, ValueError):
        return 0, 1
