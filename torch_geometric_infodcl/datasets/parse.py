r"""Vectorised, strict parsing of text lines into fields and integer ids.

A file's bytes are split into lines (``\n``; a ``\r`` before it is
ignored) and every line into fields -- runs of non-blank bytes
(:func:`split_whitespace`) or the text between separators
(:func:`split_fields`).  :func:`parse_ids` then turns chosen fields into
``int64`` ids with NumPy alone (no Python call per token).

An id is a run of 1 to 18 ASCII digits ``0-9`` and nothing else: ``+1``,
``-1``, ``1.0``, ``1e3``, ``1_0``, ``0x1f``, Arabic-Indic or full-width
digits, and ids above :obj:`max_id` are errors naming the file and the line.
"""
import warnings
from typing import NamedTuple, Optional

import numpy as np

from torch_geometric_infodcl.datasets.files import DataFileError

__all__ = ['MAX_ID', 'Fields', 'split_whitespace', 'split_fields',
           'parse_ids', 'parse_decimals', 'warn_unterminated', 'field_text',
           'line_text']

#: The largest id a pre-split file may hold: an id ``n`` makes a table of
#: ``n + 1`` embeddings, and ``2**31`` rows of 64 floats are 512 GiB.
MAX_ID = 2**31 - 1

_MAX_DIGITS = 18  # 10**18 - 1 < 2**63: the sum below cannot overflow
_POW10 = 10**np.arange(_MAX_DIGITS, dtype=np.int64)
_CHUNK = 1 << 20  # fields parsed at a time (bounds the temporary memory)

# ASCII blanks (space, \t, \n, \v, \f, \r); any other byte belongs to a
# field, so a non-ASCII space inside an id is reported, not skipped.
_BLANK = np.zeros(256, dtype=bool)
_BLANK[[9, 10, 11, 12, 13, 32]] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[48:58] = True
_DOT = np.zeros(256, dtype=bool)
_DOT[46] = True


class Fields(NamedTuple):
    r"""The fields of a text: byte ranges ``data[start:end]``, the 0-based
    line of each, and the number of fields of every line."""
    start: np.ndarray  #: ``int64 [F]``
    end: np.ndarray  #: ``int64 [F]``
    line: np.ndarray  #: ``int64 [F]``
    column: np.ndarray  #: ``int64 [F]``, 0-based position in its line
    per_line: np.ndarray  #: ``int64 [L]``, fields of every line
    ends_with_newline: bool  #: whether the last line is complete


def _finish(start: np.ndarray, end: np.ndarray, line: np.ndarray,
            num_lines: int, ends_with_newline: bool) -> Fields:
    per_line = np.bincount(line, minlength=num_lines).astype(np.int64)
    first = np.cumsum(per_line) - per_line
    column = np.arange(start.size, dtype=np.int64) - first[line]
    return Fields(start, end, line, column, per_line, ends_with_newline)


def split_whitespace(data: bytes) -> Fields:
    r"""Splits every line into runs of non-blank bytes."""
    b = np.frombuffer(data, dtype=np.uint8)
    blank = _BLANK[b]
    filled = ~blank
    first = filled.copy()
    first[1:] &= blank[:-1]
    last = filled.copy()
    last[:-1] &= blank[1:]
    start = np.flatnonzero(first)
    end = np.flatnonzero(last) + 1
    newlines = np.flatnonzero(b == 10)
    line = np.searchsorted(newlines, start)
    return _finish(start, end, line, newlines.size + 1,
                   bool(b.size == 0 or b[-1] == 10))


def split_fields(data: bytes, sep: bytes) -> Fields:
    r"""Splits every line at the one-byte separator :obj:`sep` (blanks
    around a field are kept; a ``\r`` before a line end is dropped).  A
    blank line has no field."""
    if len(sep) != 1:
        raise ValueError(f'sep must be one byte (got {sep!r})')
    b = np.frombuffer(data, dtype=np.uint8)
    if b.size == 0:
        none = np.zeros(0, dtype=np.int64)
        return _finish(none, none, none, 1, True)
    newline = b == 10
    cut = np.flatnonzero(newline | (b == sep[0]))
    start = np.concatenate([[0], cut + 1]).astype(np.int64)
    end = np.concatenate([cut, [b.size]]).astype(np.int64)
    line = np.concatenate([[0], np.cumsum(newline[cut])]).astype(np.int64)
    at_line_end = np.concatenate([newline[cut], [True]])
    end -= at_line_end & (end > start) & (b[np.maximum(end - 1, 0)] == 13)
    num_lines = int(newline.sum()) + 1
    # A blank line is a single field of blanks: it has no field at all.
    single = np.bincount(line, minlength=num_lines)[line] == 1
    keep = ~(single & _all_blank(b, start, end))
    return _finish(start[keep], end[keep], line[keep], num_lines,
                   bool(b[-1] == 10))


def _all_blank(b: np.ndarray, start: np.ndarray, end: np.ndarray
               ) -> np.ndarray:
    r"""Whether every byte range ``[start, end)`` holds blanks only."""
    filled = np.concatenate([[0], np.cumsum(~_BLANK[b])])
    return filled[end] == filled[start]


def warn_unterminated(path: str, fields: Fields, line_offset: int = 0,
                      stacklevel: int = 3) -> None:
    r"""Warns that a file whose last line has fields but no line end may be
    truncated (a cut inside the last id would silently shorten it)."""
    if not fields.ends_with_newline and fields.per_line[-1] > 0:
        warnings.warn(
            f"'{path}': the last line ({line_offset + fields.per_line.size})"
            ' has no line end, so the file may be truncated; check that it '
            'is complete', stacklevel=stacklevel)


def line_text(data: bytes, line: int, limit: int = 80) -> str:
    r"""The text of the 0-based :obj:`line` (for error messages)."""
    text = data.split(b'\n', line + 1)[line] if line >= 0 else b''
    return text.decode('utf-8', 'replace').strip()[:limit]


def field_text(data: bytes, fields: Fields, k: int, limit: int = 40) -> str:
    r"""The text of field :obj:`k` (for error messages)."""
    return data[int(fields.start[k]):int(fields.end[k])].decode(
        'utf-8', 'replace')[:limit]


def parse_ids(
    path: str,
    data: bytes,
    fields: Fields,
    select: Optional[np.ndarray] = None,
    max_id: Optional[int] = MAX_ID,
    what: str = 'id',
    show_bytes: bool = False,
    line_offset: int = 0,
) -> np.ndarray:
    r"""Parses fields as non-negative integer ids, vectorised.

    Args:
        path (str): The file, for error messages.
        data (bytes): The text the fields index into.
        fields (Fields): From :func:`split_whitespace` / :func:`split_fields`.
        select (np.ndarray, optional): Indices of the fields to parse
            (default: all), in the order of the output.
        max_id (int, optional): The largest accepted value; :obj:`None`
            accepts any 18-digit number.  (default: :data:`MAX_ID`)
        what (str, optional): The name of the value in error messages.
            (default: ``'id'``)
        show_bytes (bool, optional): Quote an offending field as bytes
            (``b'x'``), for files that are not text in one encoding.
            (default: :obj:`False`)
        line_offset (int, optional): Lines of the file before :obj:`data`
            (when a file is parsed in chunks).  (default: ``0``)

    Returns:
        ``int64`` array of the values.

    Raises:
        DataFileError: naming the file, the line and the offending field.
    """
    idx = np.arange(fields.start.size) if select is None else \
        np.asarray(select, dtype=np.int64)
    out = np.empty(idx.size, dtype=np.int64)
    b = np.frombuffer(data, dtype=np.uint8)
    for lo in range(0, idx.size, _CHUNK):
        part = idx[lo:lo + _CHUNK]
        try:
            out[lo:lo + part.size] = _parse_chunk(path, data, b, fields,
                                                  part, max_id, what,
                                                  show_bytes)
        except DataFileError as e:
            if not line_offset or e.line is None:
                raise
            raise DataFileError(path, e.message,
                                e.line + line_offset) from None
    return out


def _fail(path: str, data: bytes, fields: Fields, k: int, why: str,
          what: str, show_bytes: bool) -> DataFileError:
    line = int(fields.line[k]) + 1
    raw = data[int(fields.start[k]):int(fields.end[k])]
    text = field_text(data, fields, k)
    if raw[:1] == b'-' and raw[1:].isdigit():
        return DataFileError(path, f'negative {what} {text}', line)
    shown = repr(raw[:40]) if show_bytes else repr(text)
    return DataFileError(path, f'{shown} is not an integer {what} ({why})',
                         line)


def _parse_chunk(path: str, data: bytes, b: np.ndarray, fields: Fields,
                 idx: np.ndarray, max_id: Optional[int], what: str,
                 show_bytes: bool) -> np.ndarray:
    start, end = fields.start[idx], fields.end[idx]
    length = end - start
    if idx.size and int(length.min()) == 0:
        k = int(idx[np.argmin(length)])
        raise DataFileError(path, f'empty {what} field',
                            int(fields.line[k]) + 1)
    offset = np.cumsum(length) - length
    owner = np.repeat(np.arange(idx.size), length)
    within = np.arange(owner.size) - offset[owner]
    digit = b[start[owner] + within].astype(np.int64) - 48
    bad = (digit < 0) | (digit > 9)
    if bad.any():
        k = int(idx[owner[np.argmax(bad)]])
        raise _fail(path, data, fields, k, 'ASCII digits 0-9 only', what,
                    show_bytes)
    too_long = length > _MAX_DIGITS
    if too_long.any():
        k = int(idx[np.argmax(too_long)])
        raise _fail(path, data, fields, k, f'more than {_MAX_DIGITS} digits',
                    what, show_bytes)
    if owner.size == 0:
        return np.zeros(idx.size, dtype=np.int64)
    place = _POW10[length[owner] - 1 - within]
    values = np.add.reduceat(digit * place, offset)
    if max_id is not None:
        big = values > max_id
        if big.any():
            k = int(idx[np.argmax(big)])
            raise DataFileError(
                path, f'{what} {int(values[np.argmax(big)])} is larger than '
                f'{max_id}, the largest accepted (an id n makes a table of '
                f'n + 1 rows); remap sparse ids to 0..n-1',
                int(fields.line[k]) + 1)
    return values


def _count(mask: np.ndarray, b: np.ndarray, start: np.ndarray,
           end: np.ndarray) -> np.ndarray:
    r"""How many bytes of each range ``[start, end)`` are in :obj:`mask`."""
    total = np.concatenate([[0], np.cumsum(mask[b])])
    return total[end] - total[start]


def parse_decimals(path: str, data: bytes, fields: Fields,
                   select: np.ndarray, what: str = 'value',
                   line_offset: int = 0) -> np.ndarray:
    r"""Parses fields as non-negative decimal numbers (ASCII digits with at
    most one ``.``, e.g. ``5``, ``4.5``; at most 15 digits), vectorised and
    equal to Python's :obj:`float` of the text; anything else (signs,
    exponents, ``1_0``, ``nan``, other digits) is a
    :class:`~torch_geometric_infodcl.datasets.files.DataFileError` naming
    the file, the line and the field."""
    select = np.asarray(select, dtype=np.int64)
    out = np.empty(select.size, dtype=np.float64)
    b = np.frombuffer(data, dtype=np.uint8)
    for lo in range(0, select.size, _CHUNK):
        part = select[lo:lo + _CHUNK]
        out[lo:lo + part.size] = _decimal_chunk(path, data, b, fields, part,
                                                what, line_offset)
    return out


def _decimal_chunk(path: str, data: bytes, b: np.ndarray, fields: Fields,
                   idx: np.ndarray, what: str,
                   line_offset: int) -> np.ndarray:
    start, end = fields.start[idx], fields.end[idx]
    digits = _count(_DIGIT, b, start, end)
    dots = _count(_DOT, b, start, end)
    bad = (digits == 0) | (dots > 1) | (digits + dots != end - start) | \
        (digits > 15)
    if bad.any():
        k = int(idx[np.argmax(bad)])
        raise DataFileError(
            path, f'bad {what} {field_text(data, fields, k)!r} (expected a '
            'non-negative decimal number of at most 15 digits)',
            line_offset + int(fields.line[k]) + 1)
    if idx.size == 0:
        return np.zeros(0, dtype=np.float64)
    length = end - start
    offset = np.cumsum(length) - length
    owner = np.repeat(np.arange(idx.size), length)
    char = b[start[owner] + np.arange(owner.size) - offset[owner]]
    is_digit = _DIGIT[char]
    # Digits after this one in its field, and whether it follows the dot:
    seen = np.cumsum(is_digit) - np.repeat(
        np.cumsum(digits) - digits, length)
    after_dot = (np.cumsum(_DOT[char]) - np.repeat(
        np.cumsum(dots) - dots, length)) > 0
    place = _POW10[np.where(is_digit, digits[owner] - seen, 0)]
    mantissa = np.add.reduceat(
        np.where(is_digit, (char.astype(np.int64) - 48) * place, 0), offset)
    decimals = np.add.reduceat((is_digit & after_dot).astype(np.int64),
                               offset)
    # An integer below 2**53 divided by 10**k, both exact, rounds once:
    # the result is Python's float() of the text.
    return mantissa.astype(np.float64) / _POW10[decimals].astype(np.float64)
