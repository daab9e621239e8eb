r"""Input checks shared by the layers, metadata builders and metrics."""
from typing import Optional

import torch
from torch import Tensor


def check_embedding(emb: Tensor, name: str,
                    num_rows: Optional[int] = None) -> Tensor:
    r"""Checks that :obj:`emb` is a finite floating-point :obj:`[N, dim]`
    tensor (with :obj:`N == num_rows` when given) and returns it; the error
    names the tensor, its shape and the first non-finite row."""
    if not isinstance(emb, Tensor):
        raise TypeError(f"'{name}' must be a torch.Tensor "
                        f"(got {type(emb).__name__})")
    rows = 'num_nodes' if num_rows is None else num_rows
    if emb.dim() != 2 or (num_rows is not None and emb.size(0) != num_rows):
        raise ValueError(f"'{name}' must have shape [{rows}, dim] "
                         f"(got {list(emb.shape)})")
    if not emb.is_floating_point():
        raise TypeError(f"'{name}' must be a floating-point tensor "
                        f"(got dtype {emb.dtype})")
    finite = torch.isfinite(emb).all(dim=1)
    if not bool(finite.all()):
        row = int((~finite).nonzero()[0, 0])
        raise ValueError(f"'{name}' holds NaN or inf values "
                         f"(first in row {row})")
    return emb


def check_edge_index(edge_index: Tensor, num_users: int, num_items: int,
                     name: str = 'edge_index') -> None:
    r"""Checks that :obj:`edge_index` is an integer (user, item) edge index
    of shape :obj:`[2, E]` with ids in range; the error names the tensor,
    the first bad column, the id and the count of bad columns."""
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"'{name}' must be a torch.Tensor "
                        f"(got {type(edge_index).__name__})")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise TypeError(f"'{name}' must hold integer ids "
                        f"(got dtype {edge_index.dtype})")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"'{name}' must have shape [2, num_edges] "
                         f"(got {list(edge_index.shape)})")
    for row, (kind, bound) in enumerate([('user', num_users),
                                         ('item', num_items)]):
        ids = edge_index[row]
        bad = ((ids < 0) | (ids >= bound)).nonzero().view(-1)
        if bad.numel() > 0:
            col = int(bad[0])
            raise ValueError(f"'{name}' column {col} has {kind} id "
                             f"{int(ids[col])} outside [0, {bound}) "
                             f"({bad.numel()} such columns; "
                             f"num_{kind}s={bound})")
