r"""Telling the two text interaction formats apart, from evidence that
cannot be confused, and saying why.

``'pairs'`` lines hold ``user item`` plus, in exports, columns that are
not items (a rating, a timestamp); ``'lightgcn'`` lines hold ``user item
item ...``.  A line ``0 5 1`` fits both, so the files of a split folder are
read together and the format is chosen by these rules:

1. No line holds more than two fields: ``'pairs'`` (both readings agree on
   two fields); but a complete line of one field -- a LightGCN user without
   items, or a broken pair -- is ambiguous and refused.
2. The lines of one file hold different numbers of fields, some three or
   more: ``'lightgcn'`` -- a pairs file has as many fields on every line.
3. Otherwise (each file has one number of fields per line, some three or
   more): ``'pairs'`` when a column after the item cannot hold items -- a
   field that is not an integer id, a column that is constant over two
   lines or more, a value beyond the declared item count -- or when a user
   id occurs on two lines of one file (LightGCN lists each user once).
   Without such evidence the folder is ambiguous and refused, naming the
   candidates and the option that picks one.

Evidence against the rule's choice (rule 2 with a repeated user, a
non-integer field or an item beyond the count) is a conflict: refused too.
The complete lines are used (a last line without line end may be
truncated).  Known limit: a LightGCN file in which every user has the same
number of items and the same second item is read as pairs; pass
``format='lightgcn'`` for it.
"""
from typing import List, NamedTuple, Optional, Sequence, Union

import numpy as np

from torch_geometric_infodcl.datasets.files import read_bytes
from torch_geometric_infodcl.datasets.parse import (
    Fields,
    parse_ids,
    split_whitespace,
)

__all__ = ['TextFormat', 'FormatDetectionError', 'explain_text_format',
           'detect_text_format']

_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[48:58] = True


class FormatDetectionError(ValueError):
    r"""The format of a folder's files cannot be told from their content;
    the message lists the candidates and the option that picks one."""


class TextFormat(NamedTuple):
    r"""A detected text format and the evidence it was chosen on."""
    format: str  #: ``'pairs'`` or ``'lightgcn'``
    reason: str


class _File(NamedTuple):
    path: str
    data: bytes
    fields: Fields
    complete: np.ndarray  #: bool per field: on a complete, non-blank line


def _load(path: str) -> _File:
    data = read_bytes(path)
    fields = split_whitespace(data)
    last = fields.per_line.size - 1
    complete = np.ones(fields.start.size, dtype=bool)
    if not fields.ends_with_newline:
        complete &= fields.line != last
    return _File(path, data, fields, complete)


def _ids(f: _File, select: np.ndarray) -> np.ndarray:
    r"""Values of the selected fields, ``-1`` where a field is not an id
    (evidence only: the readers report such fields)."""
    b = np.frombuffer(f.data, dtype=np.uint8)
    start, end = f.fields.start[select], f.fields.end[select]
    digits = np.concatenate([[0], np.cumsum(_DIGIT[b])])
    ok = (digits[end] - digits[start] == end - start) & (end - start <= 18)
    out = np.full(select.size, -1, dtype=np.int64)
    out[ok] = parse_ids(f.path, f.data, f.fields, select[ok], max_id=None)
    return out


def _widths(f: _File) -> np.ndarray:
    lines = np.unique(f.fields.line[f.complete])
    return f.fields.per_line[lines]


def _name(f: _File) -> str:
    return f"'{f.path}'"


def _one_field_line(files: Sequence[_File]) -> Optional[str]:
    for f in files:
        lines = f.fields.line[f.complete & (f.fields.column == 0)]
        lone = lines[f.fields.per_line[lines] == 1]
        if lone.size:
            return f'line {int(lone[0]) + 1} of {_name(f)}'
    return None


def _not_ids(files: Sequence[_File]) -> Optional[str]:
    for f in files:
        sel = np.flatnonzero(f.complete & (f.fields.column >= 2))
        bad = _ids(f, sel) < 0
        if bad.any():
            k = int(sel[np.argmax(bad)])
            text = f.data[f.fields.start[k]:f.fields.end[k]].decode(
                'utf-8', 'replace')[:40]
            return (f'{text!r} on line {int(f.fields.line[k]) + 1} of '
                    f'{_name(f)} is not an integer id')
    return None


def _column(files: Sequence[_File], col: int) -> List[np.ndarray]:
    return [_ids(f, np.flatnonzero(f.complete & (f.fields.column == col)))
            for f in files]


def _repeated_user(files: Sequence[_File]) -> Optional[str]:
    for f, users in zip(files, _column(files, 0)):
        users = users[users >= 0]
        uniq, counts = np.unique(users, return_counts=True)
        if (counts > 1).any():
            u = int(uniq[np.argmax(counts > 1)])
            return (f'user {u} is on {int(counts.max())} lines of '
                    f'{_name(f)} (a LightGCN file lists each user once)')
    return None


def _constant(files: Sequence[_File], width: int) -> Optional[str]:
    for col in range(2, width):
        values = np.concatenate(_column(files, col))
        if values.size >= 2 and values.min() == values.max() >= 0:
            return (f'column {col + 1} holds {int(values[0])} on all '
                    f'{values.size} lines')
    return None


def _beyond(files: Sequence[_File], num_items: Optional[int]
            ) -> Optional[str]:
    if num_items is None:
        return None
    for f in files:
        sel = np.flatnonzero(f.complete & (f.fields.column >= 2))
        big = _ids(f, sel) >= num_items
        if big.any():
            k = int(sel[np.argmax(big)])
            return (f'{int(_ids(f, sel[[np.argmax(big)]])[0])} on line '
                    f'{int(f.fields.line[k]) + 1} of {_name(f)} is beyond '
                    f'the {num_items} declared items')
    return None


def _refuse(files: Sequence[_File], facts: str) -> FormatDetectionError:
    names = ', '.join(_name(f) for f in files)
    return FormatDetectionError(
        f'cannot tell the format of {names}: {facts}. Candidates: '
        "'pairs' (user item, further columns ignored) and 'lightgcn' (user "
        "item item ...); pass format='pairs' or format='lightgcn' "
        '(command line: --format pairs or --format lightgcn)')


def explain_text_format(paths: Sequence[str],
                        num_items: Optional[int] = None) -> TextFormat:
    r"""Chooses ``'pairs'`` or ``'lightgcn'`` for the text split files
    :obj:`paths` of one folder by the rules of this module.

    Args:
        paths (sequence of str): The split files (``.gz`` accepted).
        num_items (int, optional): The declared item count, if any.

    Returns:
        :class:`TextFormat` (the format and the evidence, for the log).

    Raises:
        FormatDetectionError: if the evidence is missing or conflicting.
    """
    files = [_load(p) for p in paths]
    widths = [w[w > 0] for w in map(_widths, files)]
    every = np.concatenate(widths)
    if every.size == 0 or every.max() <= 2:
        lone = _one_field_line(files)
        if lone:
            raise _refuse(files, f'{lone} holds one field: a LightGCN user '
                          'without items, or a broken pair')
        return TextFormat('pairs', 'no line holds more than 2 fields')
    low, high = int(every.min()), int(every.max())
    not_ids = _not_ids(files)
    repeated = _repeated_user(files)
    beyond = _beyond(files, num_items)
    varying = next(((f, w) for f, w in zip(files, widths)
                    if w.size and w.min() != w.max()), None)
    if varying is not None:
        f, w = varying
        fact = (f'the lines of {_name(f)} hold from {int(w.min())} to '
                f'{int(w.max())} fields, which only LightGCN lines do')
        against = [e for e in (not_ids, repeated, beyond) if e]
        if against:
            raise _refuse(files, f'{fact}, but {"; ".join(against)}')
        return TextFormat('lightgcn', fact)
    shape = (f'every line holds {high} fields' if low == high else
             f'every file has one number of fields per line ({low} to '
             f'{high})')
    evidence = [e for e in (not_ids, _constant(files, high), beyond,
                            repeated) if e]
    if evidence:
        return TextFormat('pairs', f'{shape} and {evidence[0]}: user-item '
                          'pairs with further column(s)')
    raise _refuse(files, f'{shape}, and no column rules out items')


def detect_text_format(paths: Union[str, Sequence[str]],
                       num_items: Optional[int] = None) -> str:
    r"""The format :func:`explain_text_format` chooses for one file or the
    split files of a folder."""
    paths = [paths] if isinstance(paths, str) else paths
    return explain_text_format(paths, num_items).format
