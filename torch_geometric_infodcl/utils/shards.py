r"""The one split of rows over the ranks of a process group."""
from typing import Tuple


def shard_range(n: int, rank: int, world_size: int) -> Tuple[int, int]:
    r"""Returns the rows :obj:`[start, end)` of :obj:`rank` when :obj:`n`
    rows are split into :obj:`world_size` contiguous parts whose sizes
    differ by at most one: every row belongs to exactly one rank and none is
    repeated to even the parts out (a padded split, as
    :class:`~torch.utils.data.distributed.DistributedSampler` makes, would
    count the repeated users twice in the metrics).

    Args:
        n (int): The number of rows.
        rank (int): The rank, in :obj:`[0, world_size)`.
        world_size (int): The number of ranks.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside [0, {world_size})")
    size, extra = divmod(n, world_size)
    start = rank * size + min(rank, extra)
    return start, start + size + (1 if rank < extra else 0)
