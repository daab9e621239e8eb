r"""Readers of raw interaction logs, the input of
:func:`~torch_geometric_infodcl.datasets.preprocess.preprocess_interactions`.

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

Every reader returns a :obj:`dict` of equally long arrays (``user``,
``item`` and, where the log has them, ``rating`` / ``timestamp``).  Integer
fields are parsed strictly and vectorised (see
:mod:`~torch_geometric_infodcl.datasets.parse`); raw ids are not bounded by
:data:`~torch_geometric_infodcl.datasets.parse.MAX_ID` because the
pipeline remaps them to ``0..n-1``.
"""
import ast
import json
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from torch_geometric_infodcl.datasets.files import (
    DataFileError,
    open_binary,
    read_bytes,
    read_chunk,
    read_text,
)
from torch_geometric_infodcl.datasets.parse import (
    Fields,
    line_text,
    parse_decimals,
    parse_ids,
    split_fields,
    warn_unterminated,
)

__all__ = [
    'ML1M_GENRES',
    'ML1M_AGES',
    'ML1M_NUM_OCCUPATIONS',
    'TAOBAO_BEHAVIORS',
    'read_movielens_ratings',
    'read_movielens_movies',
    'read_movielens_users',
    'read_amazon_reviews',
    'read_amazon_ratings_csv',
    'read_taobao_behavior',
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

_ML_SEP = b'\x1f'  # '::' becomes one byte that no MovieLens field holds


def _check_width(path: str, data: bytes, fields: Fields, width: int,
                 sep: str, line_offset: int = 0,
                 names: str = '') -> np.ndarray:
    r"""Indices of the non-blank lines, each checked to hold exactly
    :obj:`width` fields."""
    lines = np.flatnonzero(fields.per_line > 0)
    wrong = fields.per_line[lines] != width
    if wrong.any():
        i = int(lines[np.argmax(wrong)])
        raise DataFileError(
            path, f"expected {width} '{sep}'-separated fields{names}, found "
            f'{int(fields.per_line[i])}: {line_text(data, i)!r}',
            line_offset + i + 1)
    return lines


def _columns(path: str, data: bytes, fields: Fields, width: int,
             cols: Sequence[int], **kw) -> List[np.ndarray]:
    return [
        parse_ids(path, data, fields, np.flatnonzero(fields.column == c),
                  max_id=None, **kw) for c in cols
    ]


# MovieLens-1M ##############################################################


def _movielens_fields(path: str, width: int) -> Tuple[bytes, Fields]:
    data = read_bytes(path).replace(b'::', _ML_SEP)
    fields = split_fields(data, _ML_SEP)
    _check_width(path, data.replace(_ML_SEP, b'::'), fields, width, '::')
    return data, fields


def _unique_ids(path: str, ids: np.ndarray, what: str) -> None:
    if np.unique(ids).size != ids.size:
        raise DataFileError(path, f'duplicate {what}')


def read_movielens_ratings(path: str) -> Dict[str, np.ndarray]:
    r"""Reads MovieLens ``ratings.dat``
    (``UserID::MovieID::Rating::Timestamp``).

    Returns:
        dict: ``user``, ``item`` (original UserID / MovieID), ``rating`` and
        ``timestamp``, all ``int64 [N]``.
    """
    data, fields = _movielens_fields(path, 4)
    warn_unterminated(path, fields)
    user, item, rating, timestamp = _columns(path, data, fields, 4,
                                             range(4))
    return {'user': user, 'item': item, 'rating': rating,
            'timestamp': timestamp}


def _texts(data: bytes, fields: Fields, col: int,
           encoding: str) -> List[str]:
    sel = np.flatnonzero(fields.column == col)
    return [data[s:e].decode(encoding)
            for s, e in zip(fields.start[sel], fields.end[sel])]


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
    data, fields = _movielens_fields(path, 3)
    ids, = _columns(path, data, fields, 3, [0], what='MovieID')
    titles = _texts(data, fields, 1, 'ISO-8859-1')
    col = {g: j for j, g in enumerate(ML1M_GENRES)}
    genres = np.zeros((ids.size, len(ML1M_GENRES)), dtype=np.float32)
    lines = fields.line[fields.column == 2]
    for r, names in enumerate(_texts(data, fields, 2, 'ISO-8859-1')):
        for g in names.strip().split('|'):
            if g not in col:
                raise DataFileError(path, f'unknown genre {g!r}',
                                    int(lines[r]) + 1)
            genres[r, col[g]] = 1.0
    _unique_ids(path, ids, 'MovieID')
    return ids, titles, genres


def _one_hot_column(path: str, codes: np.ndarray, valid: Sequence,
                    lines: np.ndarray, what: str) -> np.ndarray:
    table = np.full(max(valid) + 1, -1, dtype=np.int64)
    table[list(valid)] = np.arange(len(valid))
    pos = np.where(codes < table.size, table[np.minimum(codes, table.size -
                                                         1)], -1)
    if (pos < 0).any():
        r = int(np.argmax(pos < 0))
        raise DataFileError(path, f'unknown {what} {int(codes[r])}',
                            int(lines[r]) + 1)
    return pos


def read_movielens_users(path: str) -> Tuple[np.ndarray, np.ndarray]:
    r"""Reads MovieLens-1M ``users.dat``
    (``UserID::Gender::Age::Occupation::Zip-code``).

    Returns:
        (user_ids ``int64 [n]`` in file order, features ``float32 [n, 30]``):
        columns 0-1 gender one-hot (``F``, ``M``), 2-8 age-bucket one-hot
        (:data:`ML1M_AGES`), 9-29 occupation one-hot (codes 0..20).
    """
    data, fields = _movielens_fields(path, 5)
    ids, age, occupation = _columns(path, data, fields, 5, [0, 2, 3])
    lines = fields.line[fields.column == 0]
    gender = np.array(_texts(data, fields, 1, 'ISO-8859-1'), dtype=object)
    male = gender == 'M'
    bad = ~male & (gender != 'F')
    if bad.any():
        r = int(np.argmax(bad))
        raise DataFileError(path, f'gender {gender[r]!r} is not F or M',
                            int(lines[r]) + 1)
    age_col = _one_hot_column(path, age, ML1M_AGES, lines, 'age bucket')
    occ_col = _one_hot_column(path, occupation,
                              range(ML1M_NUM_OCCUPATIONS), lines,
                              'occupation')
    rows = np.arange(ids.size)
    x = np.zeros((ids.size, 2 + len(ML1M_AGES) + ML1M_NUM_OCCUPATIONS),
                 dtype=np.float32)
    x[rows, male.astype(np.int64)] = 1.0
    x[rows, 2 + age_col] = 1.0
    x[rows, 2 + len(ML1M_AGES) + occ_col] = 1.0
    _unique_ids(path, ids, 'UserID')
    return ids, x


# Amazon ####################################################################


def _review_fields(path: str, obj: dict, line: int
                   ) -> Tuple[str, str, float, int]:
    r"""``reviewerID``, ``asin``, ``overall`` (NaN if absent) and
    ``unixReviewTime`` (0 if absent) of one review, with their JSON types
    checked (a string id, a number, an integer)."""
    try:
        user, item = obj['reviewerID'], obj['asin']
    except KeyError as e:
        raise DataFileError(path, f'missing key {e.args[0]!r}',
                            line) from None
    rating = obj.get('overall', float('nan'))
    time = obj.get('unixReviewTime', 0)
    for key, value, types in (('reviewerID', user, (str, )),
                              ('asin', item, (str, )),
                              ('overall', rating, (int, float)),
                              ('unixReviewTime', time, (int, ))):
        if isinstance(value, bool) or not isinstance(value, types) or (
                isinstance(value, str) and not value):
            raise DataFileError(path, f'bad value {value!r} for {key!r}',
                                line)
    if rating < 0 or time < 0:
        raise DataFileError(path, 'negative overall / unixReviewTime', line)
    return user, item, float(rating), time


def read_amazon_reviews(path: str) -> Dict[str, np.ndarray]:
    r"""Reads Amazon 2014 review files (``reviews_<Category>_5.json(.gz)``):
    one object per line with ``reviewerID``, ``asin`` (strings),
    ``overall`` (a number) and ``unixReviewTime`` (an integer); other keys
    are ignored; lines in Python-literal syntax, as in some of McAuley's
    dumps, are accepted too.

    Returns:
        dict: ``user``, ``item`` (original string ids, ``object`` arrays),
        ``rating`` (``float64``), ``timestamp`` (``int64``).
    """
    text = read_text(path)
    rows = []
    for i, line in enumerate(text.split('\n')):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            try:
                obj = ast.literal_eval(line)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise DataFileError(path, 'not a JSON object', i + 1) from None
        if not isinstance(obj, dict):
            raise DataFileError(path, 'not a JSON object', i + 1)
        rows.append(_review_fields(path, obj, i + 1))
    users, items, ratings, times = zip(*rows) if rows else ((), ) * 4
    return {
        'user': np.array(users, dtype=object),
        'item': np.array(items, dtype=object),
        'rating': np.array(ratings, dtype=np.float64),
        'timestamp': np.array(times, dtype=np.int64),
    }


def _strings(data: bytes, fields: Fields, select: np.ndarray) -> np.ndarray:
    return np.array([data[s:e].decode('utf-8') for s, e in
                     zip(fields.start[select], fields.end[select])],
                    dtype=object)


def read_amazon_ratings_csv(path: str) -> Dict[str, np.ndarray]:
    r"""Reads Amazon ``ratings_<Category>.csv`` files: ``user,item,rating,
    timestamp`` lines (a first line whose rating and timestamp hold no digit
    is a header and skipped).  Ratings are decimal numbers,
    timestamps integers, both parsed strictly.

    Returns:
        dict as :func:`read_amazon_reviews`.
    """
    data = read_text(path).encode('utf-8')
    fields = split_fields(data, b',')
    _check_width(path, data, fields, 4, ',',
                 names=' (user,item,rating,timestamp)')
    warn_unterminated(path, fields)
    first = np.flatnonzero(fields.column == 0)
    if first.size:
        head = data[fields.start[first[0] + 2]:fields.end[first[0] + 3]]
        if re.fullmatch(rb'[^0-9]*,[^0-9]*', head):
            first = first[1:]  # header, e.g. 'user,item,rating,timestamp'
    return {
        'user': _strings(data, fields, first),
        'item': _strings(data, fields, first + 1),
        'rating': parse_decimals(path, data, fields, first + 2, 'rating'),
        'timestamp': parse_ids(path, data, fields, first + 3, max_id=None,
                               what='timestamp'),
    }


# Taobao ####################################################################
# Taobao ####################################################################

_TAOBAO_FIELDS = ' (user,item,category,behavior,timestamp)'


def _packed(b: np.ndarray, fields: Fields, sel: np.ndarray) -> np.ndarray:
    r"""The bytes of short fields packed into one integer each (``-1`` for
    fields longer than 7 bytes), to compare words without Python."""
    start, length = fields.start[sel], fields.end[sel] - fields.start[sel]
    out = np.zeros(sel.size, dtype=np.int64)
    for j in range(7):
        has = length > j
        out[has] |= b[start[has] + j].astype(np.int64) << (8 * j)
    out[length > 7] = -1
    return out


def _word_code(word: str) -> int:
    return int.from_bytes(word.encode(), 'little')


def _taobao_chunk(path: str, data: bytes, line_offset: int,
                  keep: Optional[np.ndarray]) -> List[np.ndarray]:
    fields = split_fields(data, b',')
    lines = _check_width(path, data, fields, 5, ',', line_offset,
                         _TAOBAO_FIELDS)
    warn_unterminated(path, fields, line_offset, stacklevel=4)
    b = np.frombuffer(data, dtype=np.uint8)
    beh_fields = np.flatnonzero(fields.column == 3)
    codes = np.array([_word_code(w) for w in TAOBAO_BEHAVIORS])
    packed = _packed(b, fields, beh_fields)
    match = packed[:, None] == codes[None, :]
    unknown = ~match.any(axis=1)
    if unknown.any():
        k = int(beh_fields[np.argmax(unknown)])
        name = data[fields.start[k]:fields.end[k]].decode(errors='replace')
        raise DataFileError(path, f'unknown behaviour {name!r}',
                            line_offset + int(fields.line[k]) + 1)
    behavior = np.argmax(match, axis=1)
    kept = np.ones(lines.size, dtype=bool) if keep is None else \
        np.isin(behavior, keep)
    first = np.flatnonzero(fields.column == 0)[kept]
    out = [parse_ids(path, data, fields, first + c, max_id=None,
                     show_bytes=True, line_offset=line_offset)
           for c in (0, 1, 2)]
    out.append(behavior[kept])
    out.append(parse_ids(path, data, fields, first + 4, max_id=None,
                         show_bytes=True, line_offset=line_offset))
    return out


def read_taobao_behavior(
    path: str,
    behaviors: Optional[Sequence[str]] = ('buy', ),
    time_window: Optional[Tuple[int, int]] = None,
    chunk_bytes: int = 1 << 26,
) -> Dict[str, np.ndarray]:
    r"""Reads Taobao's ``UserBehavior.csv``
    (``user,item,category,behavior,timestamp``; about 100M lines, read in
    chunks of whole lines, each parsed vectorised).

    Args:
        path (str): The file (``.gz`` accepted).
        behaviors (sequence of str, optional): Behaviour types to keep
            (a subset of :data:`TAOBAO_BEHAVIORS`); :obj:`None` keeps all.
            (default: ``('buy',)``)
        time_window ((int, int), optional): Keep rows with ``start <=
            timestamp <= end`` only.  (default: :obj:`None`)
        chunk_bytes (int, optional): Bytes read at a time.
            (default: ``2**26``)

    Returns:
        dict: ``user``, ``item``, ``category``, ``timestamp`` (``int64``) and
        ``behavior`` (``int64`` index into :data:`TAOBAO_BEHAVIORS`).
    """
    keep = None
    if behaviors is not None:
        behaviors = [behaviors] if isinstance(behaviors, str) else behaviors
        unknown = set(behaviors) - set(TAOBAO_BEHAVIORS)
        if unknown:
            raise ValueError(f'unknown Taobao behaviour(s) {sorted(unknown)}; '
                             f'valid: {list(TAOBAO_BEHAVIORS)}')
        keep = np.array([TAOBAO_BEHAVIORS.index(b) for b in behaviors])
    names = ['user', 'item', 'category', 'behavior', 'timestamp']
    cols: List[List[np.ndarray]] = [[] for _ in names]
    line_offset, rest = 0, b''
    with open_binary(path) as f:
        while True:
            chunk = read_chunk(path, f, chunk_bytes)
            data = rest + chunk
            cut = data.rfind(b'\n') + 1 if chunk else len(data)
            data, rest = data[:cut], data[cut:]
            if data:
                for c, v in zip(cols, _taobao_chunk(path, data, line_offset,
                                                    keep)):
                    c.append(v)
                line_offset += data.count(b'\n')

            if not chunk:
                break
    out = {n: np.concatenate(c) if c else np.zeros(0, dtype=np.int64)
           for n, c in zip(names, cols)}
    if time_window is not None:
        start, end = time_window
        mask = (out['timestamp'] >= start) & (out['timestamp'] <= end)
        out = {n: v[mask] for n, v in out.items()}
    return out
