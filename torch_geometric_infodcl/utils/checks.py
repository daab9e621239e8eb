r"""Input checks shared by the whole package, one per kind of mistake.

Every check raises

* :class:`TypeError` when an argument has the wrong Python type or a tensor
  the wrong dtype (or layout),
* :class:`ValueError` when a number, size, shape or id is out of range, or a
  tensor holds NaN or inf values,

and names the argument (and, where it helps, the first offending row, column
or id). Checks that pass return nothing, or the checked value where noted.
"""
import math
import numbers
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor


def _type_name(value) -> str:
    return type(value).__name__


def check_int(value, name: str, min_value: int = 1) -> int:
    r"""Checks that :obj:`value` is an integer (a Python or NumPy integer, not
    a :obj:`bool`) of at least :obj:`min_value` and returns it as an
    :obj:`int`.

    Args:
        value: The value to check.
        name (str): The argument's name, used in the error message.
        min_value (int, optional): The smallest valid value.
            (default: :obj:`1`)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"'{name}' must be an int "
                        f"(got {_type_name(value)} {value!r})")
    if value < min_value:
        if min_value == 1:
            bound = 'a positive integer'
        elif min_value == 0:
            bound = 'a non-negative integer'
        else:
            bound = f'an integer >= {min_value}'
        raise ValueError(f"'{name}' must be {bound} (got {value!r})")
    return int(value)


def check_float(value, name: str, positive: bool = False) -> float:
    r"""Checks that :obj:`value` is a finite real number that is
    :math:`\geq 0` (:math:`> 0` if :obj:`positive=True`) and returns it as a
    :obj:`float`.

    Args:
        value: The value to check.
        name (str): The argument's name, used in the error message.
        positive (bool, optional): If set to :obj:`True`, zero is refused.
            (default: :obj:`False`)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"'{name}' must be a float "
                        f"(got {_type_name(value)} {value!r})")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = ('a positive finite number' if positive else
                 'finite and >= 0')
        raise ValueError(f"'{name}' must be {bound} (got {value})")
    return float(value)


def check_float_candidates(value, name: str,
                           positive: bool = False) -> Tuple[float, ...]:
    r"""Checks a float or a non-empty list / tuple of floats (candidates
    tried in turn, such as a grid selected on validation) with
    :func:`check_float` and returns them as a tuple."""
    values = (tuple(value) if isinstance(value, (list, tuple))
              else (value, ))
    if len(values) == 0:
        raise ValueError(f"'{name}' holds no value")
    return tuple(check_float(v, name, positive=positive) for v in values)


def check_tensor(x, name: str, ndim: Optional[int] = None) -> Tensor:
    r"""Checks that :obj:`x` is a :class:`torch.Tensor` (with :obj:`ndim`
    dimensions, if given) and returns it."""
    if not isinstance(x, Tensor):
        raise TypeError(f"'{name}' must be a torch.Tensor "
                        f"(got {_type_name(x)})")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"'{name}' must be {ndim}-dimensional (got shape "
                         f"{tuple(x.shape)})")
    return x


def check_shape(x: Tensor, name: str,
                shape: Sequence[Union[int, str]]) -> Tensor:
    r"""Checks that :obj:`x` has :obj:`shape`, where a string entry (such as
    :obj:`"B"`) stands for any size, and returns it.

    Example: :obj:`check_shape(noise, 'noise', ('B', 64))`.
    """
    ok = x.dim() == len(shape) and all(
        isinstance(size, str) or x.size(d) == size
        for d, size in enumerate(shape))
    if not ok:
        expected = ', '.join(str(size) for size in shape)
        raise ValueError(f"'{name}' must have shape [{expected}] "
                         f"(got {tuple(x.shape)})")
    return x


def check_non_empty(x: Tensor, name: str) -> Tensor:
    r"""Checks that :obj:`x` holds at least one element and returns it."""
    if x.numel() == 0:
        raise ValueError(f"'{name}' is empty (got shape {tuple(x.shape)})")
    return x


def check_floating(x: Tensor, name: str) -> Tensor:
    r"""Checks that :obj:`x` is a floating-point tensor and returns it."""
    if not x.is_floating_point():
        raise TypeError(f"'{name}' must be a floating-point tensor "
                        f"(got dtype {x.dtype})")
    return x


def check_finite(x: Tensor, name: str) -> Tensor:
    r"""Checks that :obj:`x` holds no NaN or inf value and returns it; the
    error names the first row (first dimension) that does."""
    finite = torch.isfinite(x)
    if bool(finite.all()):
        return x
    if x.dim() == 0:
        raise ValueError(f"'{name}' is NaN or inf (got {x.item()})")
    row = int((~finite.reshape(x.size(0), -1).all(dim=1)).nonzero()[0, 0])
    raise ValueError(f"'{name}' holds NaN or inf values (first in row {row})")


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    r"""Checks that two tensors have the same shape."""
    if a.shape != b.shape:
        raise ValueError(f"'{name_a}' and '{name_b}' must have the same "
                         f"shape (got {tuple(a.shape)} and "
                         f"{tuple(b.shape)})")


def check_same_size(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    r"""Checks that two embedding tables :obj:`[*, d]` share the embedding
    size :obj:`d`."""
    if a.size(-1) != b.size(-1):
        raise ValueError(f"'{name_a}' and '{name_b}' must have the same "
                         f"embedding size (same dimension; got "
                         f"{a.size(-1)} and {b.size(-1)})")


def check_embedding(emb, name: str, num_rows: Optional[int] = None) -> Tensor:
    r"""Checks that :obj:`emb` is a finite floating-point :obj:`[N, dim]`
    tensor (with :obj:`N == num_rows` when given) and returns it; the error
    names the tensor, its shape and the first non-finite row."""
    check_tensor(emb, name)
    check_shape(emb, name, ('num_nodes' if num_rows is None else num_rows,
                            'dim'))
    check_floating(emb, name)
    return check_finite(emb, name)


def _check_integer_dtype(ids: Tensor, name: str, kind: Optional[str]) -> None:
    if ids.is_floating_point() or ids.is_complex() or \
            ids.dtype == torch.bool:
        what = 'ids' if kind is None else f'{kind} ids'
        raise TypeError(f"'{name}' must hold integer {what} "
                        f"(got dtype {ids.dtype})")


def check_ids(ids, count: int, name: str, limit: Optional[str] = None,
              kind: Optional[str] = None) -> None:
    r"""Checks that :obj:`ids` is an integer tensor of ids in
    :obj:`[0, count)`.

    Args:
        ids (torch.Tensor): The ids (any shape).
        count (int): The number of valid ids.
        name (str): The tensor's name, used in the error message.
        limit (str, optional): Says where :obj:`count` comes from, *e.g.*
            :obj:`"'item_emb' has only 5 rows"`. (default: :obj:`None`)
        kind (str, optional): What the ids identify, *e.g.* :obj:`"item"`.
            (default: :obj:`None`)
    """
    check_tensor(ids, name)
    _check_integer_dtype(ids, name, kind)
    if ids.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(ids))
    label = f"'{name}'" if kind is None else f"'{name}' ({kind} ids)"
    if low < 0:
        raise ValueError(f"{label} contains the negative id {low}")
    if high >= count:
        limit = f"there are only {count}" if limit is None else limit
        raise ValueError(f"{label} contains the id {high}, but {limit} "
                         f"(valid ids are 0..{count - 1})")


def check_index_tensor(edge_index, name: str = 'edge_index') -> None:
    r"""Checks that :obj:`edge_index` is a dense integer tensor of shape
    :obj:`[2, num_edges]`, without looking at the ids."""
    check_tensor(edge_index, name)
    if edge_index.layout != torch.strided:
        raise TypeError(f"'{name}' must be a dense [2, num_edges] index "
                        f"tensor here (got layout {edge_index.layout})")
    _check_integer_dtype(edge_index, name, None)
    check_shape(edge_index, name, (2, 'num_edges'))


def check_edge_index(edge_index, num_users: int, num_items: int,
                     name: str = 'edge_index') -> None:
    r"""Checks that :obj:`edge_index` is an integer (user, item) edge index
    of shape :obj:`[2, E]` with user ids in :obj:`[0, num_users)` and item
    ids in :obj:`[0, num_items)`; the error names the tensor, the first bad
    column, the id and the count of bad columns."""
    check_index_tensor(edge_index, name)
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
