r"""Readers of pre-split interaction files (one per format) and of the
id-map and embedding files shipped beside them.

Every reader takes a path (a ``.gz`` version of any file is accepted),
validates what it reads and returns NumPy arrays.  Malformed input raises
:class:`~torch_geometric_infodcl.datasets.files.DataFileError` naming the
file and, for text files, the 1-based line; ids are parsed strictly (see
:mod:`~torch_geometric_infodcl.datasets.parse`), and an id above
:data:`~torch_geometric_infodcl.datasets.parse.MAX_ID` is refused before
anything is allocated for it.

Interaction readers return an ``int64`` array ``[N, 2]`` of ``(user,
item)`` rows in file order (no de-duplication, no sorting: that is done
when the splits are assembled, see
:func:`~torch_geometric_infodcl.datasets.preprocess.clean_splits`):

* :func:`read_pairs` -- ``user item`` per line (InfoDCL's Office files);
  further columns (a rating, a timestamp, ...) are ignored, but every line
  must have as many as the first.
* :func:`read_lightgcn` -- ``user item item ...`` per line (LightGCN / NGCF
  ``train.txt`` / ``test.txt``); a line holding only a user id is a user
  without interactions in that split.
* :func:`read_npy_pairs` -- DiffRec's ``{train,valid,test}_list.npy``.
* :func:`read_json_lists` -- LATTICE / MMRec-style ``{"user": [items]}``.

Which of the two text formats a folder holds is decided by
:mod:`~torch_geometric_infodcl.datasets.text_format`.
"""
import io
import json
import re
from typing import Any, List, Tuple

import numpy as np

from torch_geometric_infodcl.datasets.files import (
    DataFileError,
    read_bytes,
    read_text,
)
from torch_geometric_infodcl.datasets.parse import (
    MAX_ID,
    Fields,
    line_text,
    parse_ids,
    split_whitespace,
    warn_unterminated,
)
from torch_geometric_infodcl.datasets.text_format import detect_text_format

__all__ = [
    'TEXT_FORMATS',
    'read_pairs',
    'read_lightgcn',
    'read_interaction_text',
    'read_npy_pairs',
    'read_json_lists',
    'count_id_list',
    'read_embedding',
]

#: The text interaction formats (see :func:`read_interaction_text`).
TEXT_FORMATS: Tuple[str, ...] = ('pairs', 'lightgcn')

_ONE_BASED_ZERO = ('id 0 in a file read as 1-based (pass one_based=False for '
                   '0-based ids)')


def _check_counts(path: str, data: bytes, fields: Fields,
                  minimum: int) -> np.ndarray:
    r"""Indices of the non-blank lines, each checked to hold at least
    :obj:`minimum` fields."""
    lines = np.flatnonzero(fields.per_line > 0)
    short = fields.per_line[lines] < minimum
    if short.any():
        i = int(lines[np.argmax(short)])
        raise DataFileError(
            path, f'expected at least {minimum} whitespace-separated fields, '
            f'found {int(fields.per_line[i])}: {line_text(data, i)!r}', i + 1)
    return lines


def _shift_one_based(path: str, pairs: np.ndarray,
                     line_of_row: np.ndarray) -> np.ndarray:
    zero = (pairs == 0).any(axis=1)
    if zero.any():
        raise DataFileError(path, _ONE_BASED_ZERO,
                            int(line_of_row[np.argmax(zero)]) + 1)
    return pairs - 1


def read_pairs(path: str, one_based: bool = False) -> np.ndarray:
    r"""Reads ``user item [extra ...]`` lines into an ``int64`` array
    ``[N, 2]``.

    Blank lines are skipped.  Every other line holds at least two fields,
    and as many as the first line; the first two are ids, the others (a
    rating, a timestamp, any text) are ignored.

    Args:
        path (str): The file (``.gz`` accepted).
        one_based (bool, optional): If :obj:`True`, ids in the file start at
            1 and are shifted to 0-based (an id 0 is then an error).
            (default: :obj:`False`, ids are 0-based as in InfoDCL's files)
    """
    data = read_bytes(path)
    fields = split_whitespace(data)
    lines = _check_counts(path, data, fields, minimum=2)
    width = int(fields.per_line[lines[0]]) if lines.size else 2
    other = fields.per_line[lines] != width
    if other.any():
        i = int(lines[np.argmax(other)])
        raise DataFileError(
            path, f'expected {width} fields as on the first line, found '
            f'{int(fields.per_line[i])}: {line_text(data, i)!r}', i + 1)
    warn_unterminated(path, fields)
    ids = parse_ids(path, data, fields, np.flatnonzero(fields.column < 2))
    pairs = ids.reshape(-1, 2)
    return _shift_one_based(path, pairs, lines) if one_based else pairs


def read_lightgcn(path: str, one_based: bool = False) -> np.ndarray:
    r"""Reads LightGCN lines ``user item item ...`` into ``int64 [N, 2]``.

    A line with a user id only is a user without items in this file.  Blank
    lines are skipped.

    Args:
        path (str): The file (``.gz`` accepted).
        one_based (bool, optional): Shift 1-based ids to 0-based (an id 0 is
            then an error).  (default: :obj:`False`)
    """
    data = read_bytes(path)
    fields = split_whitespace(data)
    warn_unterminated(path, fields)
    values = parse_ids(path, data, fields)
    first = fields.column == 0
    per_user = fields.per_line[fields.line[first]] - 1
    users = np.repeat(values[first], per_user)
    pairs = np.stack([users, values[~first]], axis=1)
    if one_based:
        user_zero = values[first] == 0  # also users without items
        if user_zero.any():
            line = int(fields.line[first][np.argmax(user_zero)])
            raise DataFileError(path, _ONE_BASED_ZERO, line + 1)
        pairs = _shift_one_based(path, pairs, fields.line[~first])
    return pairs


def read_interaction_text(path: str, text_format: str = 'auto',
                          one_based: bool = False) -> np.ndarray:
    r"""Reads a text file in one of :data:`TEXT_FORMATS` (``'pairs'``:
    :func:`read_pairs`, ``'lightgcn'``: :func:`read_lightgcn`) or, for
    ``'auto'``, the one :func:`~torch_geometric_infodcl.datasets.
    text_format.detect_text_format` finds."""
    if text_format == 'auto':
        text_format = detect_text_format(path)
    if text_format == 'pairs':
        return read_pairs(path, one_based=one_based)
    if text_format == 'lightgcn':
        return read_lightgcn(path, one_based=one_based)
    raise ValueError(f"text_format must be 'auto' or one of {TEXT_FORMATS} "
                     f"(got {text_format!r})")


# Binary / JSON interaction lists ###########################################


def _load_npy(path: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(read_bytes(path)), allow_pickle=False)
    except DataFileError:
        raise
    except Exception as e:  # truncated header, pickled object, ...
        raise DataFileError(path, f'not a readable .npy array: {e}') from e


def _check_range(path: str, pairs: np.ndarray, one_based: bool,
                 where: str) -> np.ndarray:
    r"""Checks the ids of ``[N, 2]`` pairs (any integer or integral float
    dtype) against ``[low, MAX_ID]`` before converting them to ``int64``,
    and shifts 1-based ids; :obj:`where` formats an error location."""
    low = 1 if one_based else 0
    bad = (pairs < low) | (pairs > MAX_ID)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        col = 0 if bad[row, 0] else 1
        value = int(pairs[row, col])
        why = (f'larger than {MAX_ID}, the largest accepted; remap sparse '
               f'ids to 0..n-1' if value > MAX_ID else
               'ids must be >= 1 in a 1-based file' if one_based else
               'negative')
        place = where.format(row=row, user=int(pairs[row, 0]))
        raise DataFileError(path, f"{place}: invalid {('user', 'item')[col]} "
                            f'id {value} ({why})')
    return pairs.astype(np.int64) - low


def read_npy_pairs(path: str, one_based: bool = False) -> np.ndarray:
    r"""Reads a DiffRec ``*_list.npy`` file: an integer array ``[N, 2]`` of
    ``[user, item]`` rows (extra columns are ignored)."""
    arr = _load_npy(path)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise DataFileError(path, f'expected an array of shape [N, 2], got '
                            f'{list(arr.shape)}')
    integral = arr.dtype.kind in 'iu' or (
        arr.dtype.kind == 'f' and bool(np.all(np.isfinite(arr)))
        and bool(np.all(arr == np.round(arr))))
    if arr.size and not integral:
        raise DataFileError(path,
                            f'expected integer ids, got dtype {arr.dtype}')
    return _check_range(path, arr[:, :2], one_based, 'row {row}')


_ASCII_IDS = re.compile(r'[0-9]{1,18}(?:\n[0-9]{1,18})*')


def _json_user_ids(path: str, keys: List[str]) -> np.ndarray:
    if keys and not _ASCII_IDS.fullmatch('\n'.join(keys)):
        bad = next(k for k in keys if not re.fullmatch('[0-9]{1,18}', k))
        why = 'is negative' if re.fullmatch('-[0-9]+', bad) else \
            'is not an integer id (ASCII digits 0-9 only)'
        raise DataFileError(path, f'user key {bad!r} {why}')
    return np.array(keys, dtype=np.int64) if keys else \
        np.zeros(0, dtype=np.int64)


def _json_item_ids(path: str, keys: List[str], lists: List[Any]
                   ) -> np.ndarray:
    flat = [v for items in lists for v in items]
    if set(map(type, flat)) - {int}:  # rejects floats, strings and booleans
        for key, items in zip(keys, lists):
            for v in items:
                if type(v) is not int:
                    raise DataFileError(
                        path, f'user {key!r}: item {v!r} is not an integer id')
    try:
        return np.array(flat, dtype=np.int64) if flat else \
            np.zeros(0, dtype=np.int64)
    except OverflowError:
        v = next(v for v in flat if not -2**63 <= v < 2**63)
        raise DataFileError(path, f'item {v} is larger than {MAX_ID}, the '
                            'largest accepted') from None


def read_json_lists(path: str, one_based: bool = False) -> np.ndarray:
    r"""Reads ``{"user": [item, ...], ...}`` JSON into ``int64 [N, 2]``.

    User keys are strings of ASCII digits, items JSON integers."""
    try:
        obj = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataFileError(path, f'invalid JSON: {e.msg}', e.lineno) from e
    if not isinstance(obj, dict):
        raise DataFileError(path, 'expected a JSON object {user: [items]}')
    keys = list(obj)
    lists = list(obj.values())
    for key, items in zip(keys, lists):
        if not isinstance(items, list):
            raise DataFileError(path, f'user {key!r}: expected a list of '
                                f'item ids, got {type(items).__name__}')
    users = _json_user_ids(path, keys)
    items = _json_item_ids(path, keys, lists)
    lens = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    pairs = np.stack([np.repeat(users, lens), items], axis=1)
    return _check_range(path, pairs, one_based, 'user {user}')


def count_id_list(path: str) -> int:
    r"""Number of entities in an id-map file.

    ``*.json`` files are ``{original_id: new_id}`` objects (LATTICE's
    ``user2id.json``); text files are LightGCN's ``org_id remap_id`` lists
    with a header line.  The remapped ids must be exactly ``0..n-1``.
    """
    if path.endswith('.json') or path.endswith('.json.gz'):
        try:
            obj = json.loads(read_text(path))
        except json.JSONDecodeError as e:
            raise DataFileError(path, f'invalid JSON: {e.msg}',
                                e.lineno) from e
        if not isinstance(obj, dict):
            raise DataFileError(path, 'expected a JSON object {id: index}')
        values = list(obj.values())
        if set(map(type, values)) - {int}:
            bad = next(v for v in values if type(v) is not int)
            raise DataFileError(path, f'index {bad!r} is not an integer id')
        ids = np.array(values, dtype=np.int64)
    else:
        data = read_bytes(path)
        fields = split_whitespace(data)
        lines = np.flatnonzero(fields.per_line > 0)
        last = np.cumsum(fields.per_line)[lines] - 1
        if last.size and not data[fields.start[last[0]]:fields.end[
                last[0]]].isdigit():
            last = last[1:]  # header, e.g. 'org_id remap_id'
        ids = parse_ids(path, data, fields, last, what='remap id')
    if ids.size and not np.array_equal(np.sort(ids), np.arange(ids.size)):
        raise DataFileError(
            path, f'remapped ids are not exactly 0..{ids.size - 1}')
    return int(ids.size)


def read_embedding(path: str) -> np.ndarray:
    r"""Reads a ``float`` matrix ``[n, d]`` from a ``.npy`` file."""
    arr = _load_npy(path)
    if arr.ndim != 2 or arr.dtype.kind not in 'fiu':
        raise DataFileError(path, f'expected a numeric [n, d] matrix, got '
                            f'shape {list(arr.shape)} dtype {arr.dtype}')
    return arr.astype(np.float32)
