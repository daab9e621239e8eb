r"""One reader per interaction / side-information file format.

Every reader takes a path (a ``.gz`` version of any file is accepted and
decompressed transparently), validates what it reads and returns NumPy
arrays.  Malformed input raises :class:`DataFileError` (a
:class:`ValueError`) whose message names the file and, for text files, the
1-based line number.

Interaction readers return an ``int64`` array of shape ``[N, 2]`` holding
``(user, item)`` rows in file order (no de-duplication, no sorting: that is
done when the splits are assembled, see
:func:`torch_geometric_infodcl.data.preprocess.clean_splits`).

Pre-split formats:

* :func:`read_pairs` -- ``u i`` per line (InfoDCL's Office files, the
  Taobao-style pair files of diffusion recommenders).  Extra columns, when
  *every* line has the same number of them (e.g. a rating or a timestamp),
  are ignored.
* :func:`read_lightgcn` -- ``u i i i ...`` per line (LightGCN / NGCF
  ``train.txt`` / ``test.txt``); a line holding only a user id is a user
  without interactions in that split.
* :func:`read_npy_pairs` -- DiffRec's ``{train,valid,test}_list.npy``
  (``int`` array ``[N, 2]``).
* :func:`read_json_lists` -- LATTICE / MMRec-style ``{"user": [items]}``.

Raw logs (for :mod:`~torch_geometric_infodcl.data.preprocess`):

* :func:`read_movielens_ratings` -- MovieLens-1M ``ratings.dat``
  (``UserID::MovieID::Rating::Timestamp``).
* :func:`read_movielens_movies` / :func:`read_movielens_users` -- genres and
  demographics from ``movies.dat`` / ``users.dat`` (ISO-8859-1).
* :func:`read_amazon_reviews` -- Amazon 2014 ``reviews_<Cat>_5.json(.gz)``
  (one JSON object per line).
* :func:`read_amazon_ratings_csv` -- Amazon ``ratings_<Cat>.csv``
  (``user,item,rating,timestamp``).
* :func:`read_taobao_behavior` -- Taobao ``UserBehavior.csv``
  (``user,item,category,behavior,timestamp``).
"""
import ast
import gzip
import io
import itertools
import json
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'DataFileError',
    'ML1M_GENRES',
    'ML1M_AGES',
    'ML1M_NUM_OCCUPATIONS',
    'TAOBAO_BEHAVIORS',
    'find_file',
    'read_text',
    'read_pairs',
    'read_lightgcn',
    'read_interaction_text',
    'detect_text_format',
    'read_npy_pairs',
    'read_json_lists',
    'count_id_list',
    'read_embedding',
    'read_movielens_ratings',
    'read_movielens_movies',
    'read_movielens_users',
    'read_amazon_reviews',
    'read_amazon_ratings_csv',
    'read_taobao_behavior',
    'list_files',
]

#: The 18 MovieLens-1M genres, in the (alphabetical) column order of the
#: multi-hot genre features (the same order as PyG's ``MovieLens1M``).
ML1M_GENRES: Tuple[str, ...] = (
    'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime',
    'Documentary', 'Drama', 'Fantasy', 'Film-Noir', 'Horror', 'Musical',
    'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western')

#: The MovieLens-1M age buckets, in one-hot column order.
ML1M_AGES: Tuple[int, ...] = (1, 18, 25, 35, 45, 50, 56)

#: MovieLens-1M occupations are coded 0..20.
ML1M_NUM_OCCUPATIONS = 21

#: The behaviour types of Taobao's ``UserBehavior.csv``.
TAOBAO_BEHAVIORS: Tuple[str, ...] = ('pv', 'buy', 'cart', 'fav')


class DataFileError(ValueError):
    r"""A malformed input file; the message names the file (and line)."""
    def __init__(self, path: str, message: str,
                 line: Optional[int] = None) -> None:
        self.path = path
        self.line = line
        where = f"'{path}'" if line is None else f"'{path}', line {line}"
        super().__init__(f'{where}: {message}')


# Files ######################################################################


def find_file(folder: str, names: Iterable[str]) -> Optional[str]:
    r"""Returns the first of ``folder/name`` or ``folder/name.gz`` that
    exists, for ``name`` in :obj:`names` (in order), else :obj:`None`."""
    for name in names:
        for candidate in (name, name + '.gz'):
            path = osp.join(folder, candidate)
            if osp.isfile(path):
                return path
    return None


def _open_binary(path: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f"file '{path}' does not exist")
    if path.endswith('.gz'):
        return gzip.open(path, 'rb')
    return open(path, 'rb')


def read_bytes(path: str) -> bytes:
    r"""Reads a whole (optionally gzip-compressed) file."""
    with _open_binary(path) as f:
        try:
            return f.read()
        except (OSError, EOFError) as e:  # truncated / corrupt gzip
            raise DataFileError(path, f'cannot decompress: {e}') from e


def read_text(path: str, encoding: str = 'utf-8') -> str:
    r"""Reads a whole (optionally gzip-compressed) text file."""
    raw = read_bytes(path)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b'\n') + 1
        raise DataFileError(path, f'not valid {encoding} text ({e.reason})',
                            line) from e


# Whitespace-separated integer lines ########################################


def _locate(lens: np.ndarray, flat_index: int) -> int:
    r"""Maps a position in the flattened token list to its (0-based) line."""
    ends = np.cumsum(lens)
    return int(np.searchsorted(ends, flat_index, side='right'))


_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 11, 12, 13, 32]] = True


def _fast_int_lines(data: bytes) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    r"""Vectorised parser of ASCII lines of non-negative integers.

    Returns ``(values, tokens per line)`` or :obj:`None` when the input
    holds anything else (signs, letters, very long numbers, non-ASCII), in
    which case the careful parser takes over (and reports the line).
    """
    b = np.frombuffer(data, dtype=np.uint8)
    ws = _WS[b]
    n_lines = int(np.count_nonzero(b == 10)) + 1
    if ws.all():
        return np.zeros(0, np.int64), np.zeros(n_lines, np.int64)
    chars = np.flatnonzero(~ws)
    digit = b[chars].astype(np.int64) - 48
    if digit.min() < 0 or digit.max() > 9:
        return None
    # Token boundaries among the non-whitespace characters:
    first = np.ones(chars.size, dtype=bool)
    first[1:] = chars[1:] != chars[:-1] + 1
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], chars.size)
    if int((ends - starts).max()) > 18:
        return None
    # Place value of each digit: 10 ** (characters left in its token).
    token = np.cumsum(first) - 1
    left = ends[token] - 1 - np.arange(chars.size)
    values = np.add.reduceat(digit * (10**left), starts)
    line = np.searchsorted(np.flatnonzero(b == 10), chars[starts])
    lens = np.bincount(line, minlength=n_lines).astype(np.int64)
    return values.astype(np.int64), lens


def _parse_int_lines(path: str, data: bytes, min_tokens: int,
                     exact: Optional[int] = None
                     ) -> Tuple[np.ndarray, np.ndarray]:
    r"""Parses whitespace-separated non-negative integers, line by line.

    Returns the flat ``int64`` values and the token count of every line
    (blank lines count 0 tokens).  Vectorised fast path; on a failure the
    offending line is located for the error message.
    """
    fast = _fast_int_lines(data)
    if fast is not None:
        values, lens = fast
    else:
        try:
            text = data.decode('utf-8')
        except UnicodeDecodeError as e:
            line = data[:e.start].count(b'\n') + 1
            raise DataFileError(path, f'not valid utf-8 text ({e.reason})',
                                line) from e
        lines = text.split('\n')
        tokens = [line.split() for line in lines]
        lens = np.fromiter(map(len, tokens), dtype=np.int64,
                           count=len(tokens))
    if exact is not None:
        bad = (lens != 0) & (lens != exact)
        want = f'{exact} whitespace-separated fields'
    else:
        bad = (lens != 0) & (lens < min_tokens)
        want = f'at least {min_tokens} whitespace-separated fields'
    if bad.any():
        i = int(np.argmax(bad))
        line = data.split(b'\n')[i].decode('utf-8', 'replace').strip()
        raise DataFileError(
            path, f'expected {want}, found {int(lens[i])}: {line[:80]!r}',
            i + 1)
    if fast is not None:
        return values, lens
    flat = list(itertools.chain.from_iterable(tokens))
    try:
        values = np.array(flat, dtype=np.int64)
    except (ValueError, OverflowError):
        for j, tok in enumerate(flat):
            try:
                v = int(tok)
                if not -2**63 <= v < 2**63:
                    raise OverflowError
            except (ValueError, OverflowError):
                i = _locate(lens, j)
                raise DataFileError(path, f'{tok[:40]!r} is not an integer id',
                                    i + 1) from None
        raise DataFileError(path, 'cannot parse integer ids')
    values = values.reshape(-1)
    neg = values < 0
    if neg.any():
        j = int(np.argmax(neg))
        i = _locate(lens, j)
        raise DataFileError(path, f'negative id {int(values[j])}', i + 1)
    return values, lens


def _check_one_based(path: str, first_col: np.ndarray,
                     second_col: np.ndarray, line_of_row: np.ndarray) -> None:
    zero = (first_col == 0) | (second_col == 0)
    if zero.any():
        r = int(np.argmax(zero))
        raise DataFileError(
            path, 'id 0 in a file read as 1-based (pass one_based=False for '
            '0-based ids)', int(line_of_row[r]) + 1)


def read_pairs(path: str, one_based: bool = False) -> np.ndarray:
    r"""Reads ``user item`` lines into an ``int64`` array ``[N, 2]``.

    Blank lines are skipped.  Every other line must hold at least two
    non-negative integers; if lines hold more (e.g. ``user item rating``),
    all lines must hold the same number of fields and only the first two are
    used.

    Args:
        path (str): The file (``.gz`` accepted).
        one_based (bool, optional): If :obj:`True`, ids in the file start at
            1 and are shifted to 0-based (an id 0 is then an error).
            (default: :obj:`False`, ids are 0-based as in InfoDCL's files)
    """
    values, lens = _parse_int_lines(path, read_bytes(path), min_tokens=2)
    nonblank = lens > 0
    width = int(lens[nonblank][0]) if nonblank.any() else 2
    bad = nonblank & (lens != width)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataFileError(
            path, f'expected {width} fields as on the first line, found '
            f'{int(lens[i])}', i + 1)
    pairs = values.reshape(-1, width)[:, :2].copy()
    if one_based:
        _check_one_based(path, pairs[:, 0], pairs[:, 1],
                         np.flatnonzero(nonblank))
        pairs -= 1
    return pairs


def read_lightgcn(path: str, one_based: bool = False) -> np.ndarray:
    r"""Reads LightGCN lines ``user item item ...`` into ``int64 [N, 2]``.

    A line with a user id only is a user without items in this file.  Blank
    lines are skipped.  Parsing is vectorised (Gowalla's 810k interactions
    take well under a second).

    Args:
        path (str): The file (``.gz`` accepted).
        one_based (bool, optional): Shift 1-based ids to 0-based (an id 0 is
            then an error).  (default: :obj:`False`)
    """
    values, all_lens = _parse_int_lines(path, read_bytes(path), min_tokens=1)
    nonblank = all_lens > 0
    lens = all_lens[nonblank]
    starts = np.zeros(lens.size, dtype=np.int64)
    starts[1:] = np.cumsum(lens)[:-1]
    is_user = np.zeros(values.size, dtype=bool)
    is_user[starts] = True
    users = np.repeat(values[starts], lens - 1)
    items = values[~is_user]
    pairs = np.stack([users, items], axis=1)
    if one_based:
        line_of_row = np.repeat(np.flatnonzero(nonblank), lens - 1)
        user_zero = values[starts] == 0
        if user_zero.any():  # also users without items
            i = int(np.flatnonzero(nonblank)[int(np.argmax(user_zero))])
            raise DataFileError(
                path, 'id 0 in a file read as 1-based (pass one_based=False '
                'for 0-based ids)', i + 1)
        _check_one_based(path, pairs[:, 0], pairs[:, 1], line_of_row)
        pairs -= 1
    return pairs


def _token_counts(data: bytes) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8)
    ws = _WS[b]
    first = ~ws
    first[1:] &= ws[:-1]
    line = np.searchsorted(np.flatnonzero(b == 10), np.flatnonzero(first))
    return np.bincount(line, minlength=int(np.count_nonzero(b == 10)) + 1)


def detect_text_format(path: str) -> str:
    r"""Returns ``'lightgcn'`` if some line of a text interaction file holds
    three or more fields, else ``'pairs'``.  (A LightGCN file in which every
    user has exactly one item *is* a pairs file, so the two readings agree
    on such files; a file whose lines hold one or two fields is read as
    pairs, so a truncated line is reported, not taken for a user without
    items -- pass ``text_format='lightgcn'`` for such LightGCN files.)"""
    lens = _token_counts(read_bytes(path))
    return 'lightgcn' if bool((lens >= 3).any()) else 'pairs'


def read_interaction_text(path: str, text_format: str = 'auto',
                          one_based: bool = False) -> np.ndarray:
    r"""Reads a pairs or LightGCN text file (``text_format`` ``'pairs'``,
    ``'lightgcn'`` or ``'auto'``, see :func:`detect_text_format`)."""
    if text_format == 'auto':
        text_format = detect_text_format(path)
    if text_format == 'pairs':
        return read_pairs(path, one_based=one_based)
    if text_format == 'lightgcn':
        return read_lightgcn(path, one_based=one_based)
    raise ValueError(f"text_format must be 'auto', 'pairs' or 'lightgcn' "
                     f"(got {text_format!r})")


# Binary / JSON interaction lists ###########################################


def _load_npy(path: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(read_bytes(path)), allow_pickle=False)
    except DataFileError:
        raise
    except Exception as e:  # truncated header, pickled object, ...
        raise DataFileError(path, f'not a readable .npy array: {e}') from e


def read_npy_pairs(path: str, one_based: bool = False) -> np.ndarray:
    r"""Reads a DiffRec ``*_list.npy`` file: an integer array ``[N, 2]`` of
    ``[user, item]`` rows (extra columns are ignored)."""
    arr = _load_npy(path)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise DataFileError(path, f'expected an array of shape [N, 2], got '
                            f'{list(arr.shape)}')
    if arr.dtype.kind not in 'iu':
        if arr.dtype.kind == 'f' and arr.size and np.all(
                np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        elif arr.size:
            raise DataFileError(path,
                                f'expected integer ids, got dtype {arr.dtype}')
    pairs = arr[:, :2].astype(np.int64)
    neg = pairs < (1 if one_based else 0)
    if neg.any():
        row = int(np.argmax(neg.any(axis=1)))
        why = ('ids must be >= 1 in a 1-based file'
               if one_based else 'negative id')
        raise DataFileError(
            path, f'row {row}: invalid id {pairs[row].tolist()} ({why})')
    return pairs - 1 if one_based else pairs


def _as_int_id(path: str, value, what: str) -> int:
    if isinstance(value, bool):
        raise DataFileError(path, f'{what} {value!r} is not an integer id')
    if isinstance(value, int):
        out = value
    elif isinstance(value, str) and value.strip().lstrip('+-').isdigit():
        out = int(value)
    else:
        raise DataFileError(path, f'{what} {value!r} is not an integer id')
    if out < 0:
        raise DataFileError(path, f'{what} {value!r} is negative')
    return out


def read_json_lists(path: str, one_based: bool = False) -> np.ndarray:
    r"""Reads ``{"user": [item, ...], ...}`` JSON into ``int64 [N, 2]``."""
    try:
        obj = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise DataFileError(path, f'invalid JSON: {e.msg}', e.lineno) from e
    if not isinstance(obj, dict):
        raise DataFileError(path, 'expected a JSON object {user: [items]}')
    users: List[int] = []
    lens: List[int] = []
    flat: List = []
    for key, items in obj.items():
        users.append(_as_int_id(path, key, 'user key'))
        if not isinstance(items, list):
            raise DataFileError(path, f'user {key!r}: expected a list of '
                                f'item ids, got {type(items).__name__}')
        lens.append(len(items))
        flat.extend(items)
    for key, items in obj.items():
        for v in items:
            if type(v) is not int:  # rejects floats, strings and booleans
                raise DataFileError(
                    path, f'user {key!r}: item {v!r} is not an integer id')
    items_arr = np.array(flat, dtype=np.int64) if flat else np.zeros(
        0, np.int64)
    users_arr = np.repeat(np.array(users, dtype=np.int64),
                          np.array(lens, dtype=np.int64))
    pairs = np.stack([users_arr, items_arr], axis=1)
    low = 1 if one_based else 0
    bad = pairs < low
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        what = 'item' if pairs[row, 1] < low else 'user'
        value = int(pairs[row, 1 if what == 'item' else 0])
        raise DataFileError(
            path, f'user {int(pairs[row, 0])}: invalid {what} id {value}' +
            (' (ids must be >= 1 in a 1-based file)' if one_based else
             ' (negative)'))
    return pairs - 1 if one_based else pairs


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
        ids = np.array([_as_int_id(path, v, 'index') for v in obj.values()],
                       dtype=np.int64)
    else:
        data = read_bytes(path)
        lines = [ln for ln in data.split(b'\n') if ln.strip()]
        if lines and not lines[0].split()[-1].isdigit():
            lines = lines[1:]  # header, e.g. 'org_id remap_id'
        body = b'\n'.join(lines)
        found = re.findall(rb'(?:^|\s)(\d+)[ \t\r]*$', body, re.M)
        if len(found) != len(lines):
            raise DataFileError(path, 'expected lines ending in a remap id '
                                '(an integer)')
        ids = np.fromiter(map(int, found), dtype=np.int64, count=len(found))
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


# MovieLens-1M ##############################################################


def _split_fields(path: str, text: str, sep: str, n_fields: int
                  ) -> List[List[str]]:
    rows = []
    for i, line in enumerate(text.split('\n')):
        line = line.rstrip('\r')
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) != n_fields:
            raise DataFileError(
                path, f"expected {n_fields} '{sep}'-separated fields, found "
                f'{len(fields)}: {line[:80]!r}', i + 1)
        rows.append(fields)
    return rows


def read_movielens_ratings(path: str) -> Dict[str, np.ndarray]:
    r"""Reads MovieLens ``ratings.dat``
    (``UserID::MovieID::Rating::Timestamp``).

    Returns:
        dict: ``user``, ``item`` (original UserID / MovieID), ``rating`` and
        ``timestamp``, all ``int64 [N]``.
    """
    values, lens = _parse_int_lines(path,
                                    read_bytes(path).replace(b'::', b' '),
                                    min_tokens=4, exact=4)
    values = values.reshape(-1, 4)
    return {
        'user': values[:, 0].copy(),
        'item': values[:, 1].copy(),
        'rating': values[:, 2].copy(),
        'timestamp': values[:, 3].copy(),
    }


def read_movielens_movies(path: str
                          ) -> Tuple[np.ndarray, List[str], np.ndarray]:
    r"""Reads MovieLens-1M ``movies.dat`` (``MovieID::Title::Genres``,
    ISO-8859-1).

    Returns:
        (movie_ids ``int64 [n]`` in file order, titles, genres
        ``float32 [n, 18]`` multi-hot in :data:`ML1M_GENRES` order).  Row
        ``r`` describes the movie whose 0-based item id is ``r`` in the
        LightGCN-style ML-1M splits.
    """
    text = read_text(path, encoding='ISO-8859-1')
    rows = _split_fields(path, text, '::', 3)
    col = {g: j for j, g in enumerate(ML1M_GENRES)}
    genres = np.zeros((len(rows), len(ML1M_GENRES)), dtype=np.float32)
    ids = np.zeros(len(rows), dtype=np.int64)
    titles = []
    line_of = [i + 1 for i, line in enumerate(text.split('\n'))
               if line.strip()]
    for r, (mid, title, gs) in enumerate(rows):
        ids[r] = _as_int_id(path, mid.strip(), f'line {line_of[r]}: MovieID')
        titles.append(title)
        for g in gs.strip().split('|'):
            if g not in col:
                raise DataFileError(path, f'unknown genre {g!r}', line_of[r])
            genres[r, col[g]] = 1.0
    if len(np.unique(ids)) != ids.size:
        raise DataFileError(path, 'duplicate MovieID')
    return ids, titles, genres


def read_movielens_users(path: str) -> Tuple[np.ndarray, np.ndarray]:
    r"""Reads MovieLens-1M ``users.dat``
    (``UserID::Gender::Age::Occupation::Zip-code``).

    Returns:
        (user_ids ``int64 [n]`` in file order, features ``float32 [n, 30]``):
        columns 0-1 gender one-hot (``F``, ``M``), 2-8 age-bucket one-hot
        (:data:`ML1M_AGES`), 9-29 occupation one-hot (codes 0..20).
    """
    text = read_text(path, encoding='ISO-8859-1')
    rows = _split_fields(path, text, '::', 5)
    line_of = [i + 1 for i, line in enumerate(text.split('\n'))
               if line.strip()]
    n = len(rows)
    ids = np.zeros(n, dtype=np.int64)
    x = np.zeros((n, 2 + len(ML1M_AGES) + ML1M_NUM_OCCUPATIONS),
                 dtype=np.float32)
    age_col = {a: j for j, a in enumerate(ML1M_AGES)}
    for r, (uid, gender, age, occ, _) in enumerate(rows):
        line = line_of[r]
        ids[r] = _as_int_id(path, uid.strip(), f'line {line}: UserID')
        if gender not in ('F', 'M'):
            raise DataFileError(path, f'gender {gender!r} is not F or M', line)
        x[r, 0 if gender == 'F' else 1] = 1.0
        a = _as_int_id(path, age.strip(), f'line {line}: age')
        if a not in age_col:
            raise DataFileError(path, f'unknown age bucket {a}', line)
        x[r, 2 + age_col[a]] = 1.0
        o = _as_int_id(path, occ.strip(), f'line {line}: occupation')
        if o >= ML1M_NUM_OCCUPATIONS:
            raise DataFileError(path, f'unknown occupation {o}', line)
        x[r, 2 + len(ML1M_AGES) + o] = 1.0
    if len(np.unique(ids)) != ids.size:
        raise DataFileError(path, 'duplicate UserID')
    return ids, x


# Amazon ####################################################################


def read_amazon_reviews(path: str) -> Dict[str, np.ndarray]:
    r"""Reads Amazon 2014 review files (``reviews_<Category>_5.json(.gz)``):
    one object per line with ``reviewerID``, ``asin``, ``overall`` and
    ``unixReviewTime`` (other keys are ignored; lines in Python-literal
    syntax, as in some of McAuley's dumps, are accepted too).

    Returns:
        dict: ``user``, ``item`` (original string ids, ``object`` arrays),
        ``rating`` (``float64``), ``timestamp`` (``int64``).
    """
    text = read_text(path)
    users, items, ratings, times = [], [], [], []
    for i, line in enumerate(text.split('\n')):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            try:
                obj = ast.literal_eval(line)
            except (ValueError, SyntaxError):
                raise DataFileError(path, 'not a JSON object', i + 1) from None
        if not isinstance(obj, dict):
            raise DataFileError(path, 'not a JSON object', i + 1)
        try:
            users.append(str(obj['reviewerID']))
            items.append(str(obj['asin']))
            ratings.append(float(obj.get('overall', 'nan')))
            times.append(int(obj.get('unixReviewTime', 0)))
        except KeyError as e:
            raise DataFileError(path, f'missing key {e.args[0]!r}',
                                i + 1) from None
        except (TypeError, ValueError) as e:
            raise DataFileError(path, f'bad value: {e}', i + 1) from None
    return {
        'user': np.array(users, dtype=object),
        'item': np.array(items, dtype=object),
        'rating': np.array(ratings, dtype=np.float64),
        'timestamp': np.array(times, dtype=np.int64),
    }


def read_amazon_ratings_csv(path: str) -> Dict[str, np.ndarray]:
    r"""Reads Amazon ``ratings_<Category>.csv`` files: ``user,item,rating,
    timestamp`` lines without header (a header line is skipped).

    Returns:
        dict as :func:`read_amazon_reviews`.
    """
    text = read_text(path)
    users, items, ratings, times = [], [], [], []
    for i, line in enumerate(text.split('\n')):
        line = line.strip()
        if not line:
            continue
        fields = line.split(',')
        if len(fields) != 4:
            raise DataFileError(path, f'expected 4 comma-separated fields '
                                f'(user,item,rating,timestamp), found '
                                f'{len(fields)}', i + 1)
        try:
            r, t = float(fields[2]), int(float(fields[3]))
        except ValueError:
            if not users and i == 0 or (not users and not items):
                continue  # header
            raise DataFileError(path, f'bad rating/timestamp: {line[:80]!r}',
                                i + 1) from None
        users.append(fields[0])
        items.append(fields[1])
        ratings.append(r)
        times.append(t)
    return {
        'user': np.array(users, dtype=object),
        'item': np.array(items, dtype=object),
        'rating': np.array(ratings, dtype=np.float64),
        'timestamp': np.array(times, dtype=np.int64),
    }


# Taobao ####################################################################


def read_taobao_behavior(
    path: str,
    behaviors: Optional[Sequence[str]] = ('buy', ),
    time_window: Optional[Tuple[int, int]] = None,
    chunk_bytes: int = 1 << 26,
) -> Dict[str, np.ndarray]:
    r"""Reads Taobao's ``UserBehavior.csv``
    (``user,item,category,behavior,timestamp``; about 100M lines, read in
    chunks, lines filtered by behaviour before they are parsed).

    Args:
        path (str): The file (``.gz`` accepted).
        behaviors (sequence of str, optional): Behaviour types to keep
            (a subset of :data:`TAOBAO_BEHAVIORS`); :obj:`None` keeps all.
            (default: ``('buy',)``)
        time_window ((int, int), optional): Keep rows with ``start <=
            timestamp <= end`` only.  (default: :obj:`None`)

    Returns:
        dict: ``user``, ``item``, ``category``, ``timestamp`` (``int64``) and
        ``behavior`` (``int64`` index into :data:`TAOBAO_BEHAVIORS`).
    """
    if behaviors is not None:
        behaviors = [behaviors] if isinstance(behaviors, str) else behaviors
        unknown = set(behaviors) - set(TAOBAO_BEHAVIORS)
        if unknown:
            raise ValueError(f'unknown Taobao behaviour(s) {sorted(unknown)}; '
                             f'valid: {list(TAOBAO_BEHAVIORS)}')
    code = {b.encode(): j for j, b in enumerate(TAOBAO_BEHAVIORS)}
    keep = None if behaviors is None else {b.encode() for b in behaviors}
    cols: List[List[np.ndarray]] = [[], [], [], [], []]
    line_no = 0
    rest = b''
    with _open_binary(path) as f:
        while True:
            try:
                chunk = f.read(chunk_bytes)
            except (OSError, EOFError) as e:
                raise DataFileError(path, f'cannot decompress: {e}') from e
            data = rest + chunk
            if chunk:
                cut = data.rfind(b'\n') + 1
                data, rest = data[:cut], data[cut:]
            else:
                rest = b''
            lines = data.split(b'\n')
            if lines and lines[-1] == b'':
                lines.pop()
            base = line_no
            line_no += len(lines)
            kept = []
            for k, line in enumerate(lines):
                fields = line.strip().split(b',')
                if len(fields) != 5:
                    if not line.strip():
                        continue
                    raise DataFileError(
                        path, 'expected 5 comma-separated fields (user,item,'
                        f'category,behavior,timestamp), found {len(fields)}',
                        base + k + 1)
                if keep is not None and fields[3] not in keep:
                    continue
                if fields[3] not in code:
                    name = fields[3].decode(errors='replace')
                    raise DataFileError(path, f'unknown behaviour {name!r}',
                                        base + k + 1)
                kept.append((base + k + 1, fields))
            if kept:
                try:
                    arr = np.array([[f[0], f[1], f[2], f[4]]
                                    for _, f in kept], dtype=np.int64)
                except ValueError:
                    for ln, f in kept:
                        for v in (f[0], f[1], f[2], f[4]):
                            try:
                                int(v)
                            except ValueError:
                                raise DataFileError(
                                    path, f'{v[:40]!r} is not an integer',
                                    ln) from None
                    raise  # pragma: no cover
                if (arr < 0).any():
                    ln = kept[int(np.argmax((arr < 0).any(1)))][0]
                    raise DataFileError(path, 'negative id', ln)
                beh = np.array([code[f[3]] for _, f in kept], dtype=np.int64)
                for c, v in enumerate((arr[:, 0], arr[:, 1], arr[:, 2],
                                       beh, arr[:, 3])):
                    cols[c].append(v)
            if not chunk:
                break
    names = ['user', 'item', 'category', 'behavior', 'timestamp']
    out = {
        n: (np.concatenate(c) if c else np.zeros(0, dtype=np.int64))
        for n, c in zip(names, cols)
    }
    if time_window is not None:
        start, end = time_window
        mask = (out['timestamp'] >= start) & (out['timestamp'] <= end)
        out = {n: v[mask] for n, v in out.items()}
    return out


def list_files(folder: str) -> List[str]:
    r"""Sorted file names of :obj:`folder` (empty if it does not exist)."""
    if not osp.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder)
                  if osp.isfile(osp.join(folder, f)))
