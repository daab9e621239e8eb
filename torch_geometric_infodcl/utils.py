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
