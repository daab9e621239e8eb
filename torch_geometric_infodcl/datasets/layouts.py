r"""File layouts: the sets of raw files a dataset can be stored as, how to
find them in a folder and how they become the graph.

A :class:`Layout` names its files by role (``train``, ``test``,
``item_count``, ...), each role with the file names it accepts (``.gz``
versions too).  :class:`SplitLayout` reads pre-split files with one reader
per split (through
:func:`~torch_geometric_infodcl.datasets.graph.split_graph`),
:class:`LogLayout` reads one raw log (through
:func:`~torch_geometric_infodcl.datasets.graph.log_graph`).  The
:data:`FORMATS` below are what the ``format`` option of a folder chooses
from.
"""
import os.path as osp
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, Mapping, Optional, Tuple

import numpy as np
from torch_geometric.data import HeteroData

from torch_geometric_infodcl.datasets import logs
from torch_geometric_infodcl.datasets.files import find_matching_file
from torch_geometric_infodcl.datasets.graph import (
    SPLITS,
    attach,
    log_graph,
    split_graph,
)
from torch_geometric_infodcl.datasets.readers import (
    count_id_list,
    read_embedding,
    read_interaction_text,
    read_json_lists,
    read_npy_pairs,
)
from torch_geometric_infodcl.datasets.text_format import explain_text_format

__all__ = ['Layout', 'SplitLayout', 'LogLayout', 'JSON', 'NPY', 'TEXT',
           'MOVIELENS', 'amazon_reviews', 'amazon_ratings', 'TAOBAO',
           'FORMATS', 'movielens_side_files']

_Roles = Mapping[str, Tuple[str, ...]]


def _exact(*names: str) -> Tuple[str, ...]:
    return tuple(re.escape(n) for n in names)


@dataclass(frozen=True)
class Layout:
    r"""A set of raw files, by role.

    Args:
        formats (tuple of str): The ``format`` option values that select
            this layout (the first is its name).
        required (dict): Role -> accepted names (regular expressions over
            a file name without ``.gz``), each role needed.
        optional (dict): Role -> accepted names, read when present.
    """
    formats: Tuple[str, ...]
    required: _Roles
    optional: _Roles = field(default_factory=dict)

    #: Whether :meth:`build` itself reports how it read the files.
    reports_choice: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return self.formats[0]

    def find(self, folder: str) -> Optional[Dict[str, str]]:
        r"""Role -> path of the files in :obj:`folder`, or :obj:`None` if a
        required one is missing."""
        found: Dict[str, str] = {}
        for roles, needed in ((self.required, True), (self.optional, False)):
            for role, patterns in roles.items():
                path = next((p for p in (find_matching_file(folder, pat)
                                         for pat in patterns) if p), None)
                if path is not None:
                    found[role] = path
                elif needed:
                    return None
        return found

    def describe(self) -> str:
        r"""The file names, for messages (``a + b [+ c]``)."""
        def show(patterns: Tuple[str, ...]) -> str:
            text = patterns[0].replace(_CATEGORY, '<Category>')
            return re.sub(r'\\(.)', r'\1', text)

        text = ' + '.join(show(p) for p in self.required.values())
        extra = [show(p) for p in self.optional.values()]
        return text + (f" [+ {', '.join(extra)}]" if extra else '')

    def build(self, files: Mapping[str, str], options: Mapping[str, Any],
              source: str) -> HeteroData:
        r"""Reads :obj:`files` (from :meth:`find`) into the graph."""
        raise NotImplementedError


# Pre-split files ###########################################################

_Reader = Callable[[str, bool], np.ndarray]


@dataclass(frozen=True)
class SplitLayout(Layout):
    r"""Train / (validation) / test files read by :attr:`reader`
    (``reader(path, one_based) -> [N, 2]``); optional id maps
    (``user_count`` / ``item_count``), pre-trained embeddings
    (``user_emb`` / ``item_emb``) and ML-1M side files (``movies`` /
    ``users``, see :func:`movielens_side_files`)."""
    reader: Optional[_Reader] = None

    def split_reader(self, files: Mapping[str, str],
                     options: Mapping[str, Any], source: str,
                     num_items: Optional[int]) -> _Reader:
        assert self.reader is not None
        return self.reader

    def build(self, files: Mapping[str, str], options: Mapping[str, Any],
              source: str) -> HeteroData:
        declared: Dict[str, Optional[int]] = {
            kind: count_id_list(files[f'{kind}_count'])
            for kind in ('user', 'item') if f'{kind}_count' in files
        }
        features: Dict[str, Tuple[np.ndarray, str]] = {}
        if 'movies' in files:  # ML-1M: item id = row of movies.dat
            _, _, genres = logs.read_movielens_movies(files['movies'])
            _, demo = logs.read_movielens_users(files['users'])
            declared = {'user': demo.shape[0], 'item': genres.shape[0]}
            features = {'user': (demo, files['users']),
                        'item': (genres, files['movies'])}
        num_items = options['num_items'] if options['num_items'] is not None \
            else declared.get('item')
        read = self.split_reader(files, options, source, num_items)
        splits = {s: read(files[s], options['one_based'])
                  for s in SPLITS if s in files}
        data = split_graph(splits, options, source, files, declared)
        if options['side_features']:
            for kind, (x, path) in features.items():
                attach(data, kind, 'x', x, path, source)
            for kind in ('user', 'item'):
                path = files.get(f'{kind}_emb')
                if path:
                    attach(data, kind, 'pretrained_emb',
                           read_embedding(path), path, source)
        return data


@dataclass(frozen=True)
class TextLayout(SplitLayout):
    r"""Text splits, read as pairs or LightGCN lines: the ``format`` option
    (``'pairs'``, ``'lightgcn'``), or, for ``'auto'``,
    :func:`~torch_geometric_infodcl.datasets.text_format.explain_text_format`
    (the choice and its evidence are reported with a warning)."""
    reports_choice: ClassVar[bool] = True

    def split_reader(self, files: Mapping[str, str],
                     options: Mapping[str, Any], source: str,
                     num_items: Optional[int]) -> _Reader:
        text_format = options['format']
        if text_format not in ('pairs', 'lightgcn'):
            paths = [files[s] for s in SPLITS if s in files]
            chosen = explain_text_format(paths, num_items)
            warnings.warn(
                f"{source}: read {', '.join(map(osp.basename, paths))} as "
                f"{chosen.format} lines because {chosen.reason}; pass "
                "format='pairs' or format='lightgcn' (command line: "
                '--format) to choose',
                stacklevel=5)
            text_format = chosen.format

        def read(path: str, one_based: bool) -> np.ndarray:
            return read_interaction_text(path, text_format, one_based)

        return read


JSON = SplitLayout(
    ('json', ),
    required={'train': _exact('train.json'), 'test': _exact('test.json')},
    optional={'val': _exact('val.json', 'valid.json'),
              'user_count': _exact('user2id.json'),
              'item_count': _exact('item2id.json')},
    reader=read_json_lists)

NPY = SplitLayout(
    ('npy', ),
    required={'train': _exact('train_list.npy'),
              'test': _exact('test_list.npy')},
    optional={'val': _exact('valid_list.npy', 'val_list.npy'),
              'item_emb': _exact('item_emb.npy')},
    reader=read_npy_pairs)

TEXT = TextLayout(
    ('text', 'pairs', 'lightgcn'),
    required={'train': _exact('train.txt'), 'test': _exact('test.txt')},
    optional={'val': _exact('valid.txt', 'val.txt'),
              'user_count': _exact('user_list.txt'),
              'item_count': _exact('item_list.txt'),
              'user_emb': _exact('uEmbeds_pt.npy'),
              'item_emb': _exact('iEmbeds_pt.npy')})


def movielens_side_files(
        folders: Tuple[str, ...]) -> Optional[Dict[str, str]]:
    r"""``movies`` / ``users`` -> the first ``movies.dat`` / ``users.dat``
    found in :obj:`folders` (in order), or :obj:`None` if one is missing."""
    out = {}
    for role in ('movies', 'users'):
        pattern = _exact(f'{role}.dat')[0]
        path = next((p for p in (find_matching_file(f, pattern)
                                 for f in folders) if p), None)
        if path is None:
            return None
        out[role] = path
    return out


# Raw logs ##################################################################

_LogReader = Callable[[Mapping[str, str], Mapping[str, Any]],
                      Mapping[str, np.ndarray]]


def _gather(ids: np.ndarray, rows: np.ndarray, wanted: np.ndarray,
            path: str, what: str) -> np.ndarray:
    r"""The rows of :obj:`rows` (keyed by :obj:`ids`) for :obj:`wanted`."""
    order = np.argsort(ids)
    pos = np.clip(np.searchsorted(ids, wanted, sorter=order), 0,
                  max(ids.size - 1, 0))
    found = ids[order[pos]] == wanted if ids.size else \
        np.zeros(wanted.size, dtype=bool)
    if not found.all():
        missing = wanted[~found]
        raise ValueError(
            f"'{path}': {len(missing)} {what}(s) of the ratings are "
            f"missing, e.g. {missing[:5].tolist()}")
    return rows[order[pos]]


@dataclass(frozen=True)
class LogLayout(Layout):
    r"""One raw log read by :attr:`read` (``read(files, options) -> dict``)
    and run through the preprocessing pipeline; a MovieLens log with
    ``movies`` / ``users`` files also gets their features."""
    read: Optional[_LogReader] = None

    def build(self, files: Mapping[str, str], options: Mapping[str, Any],
              source: str) -> HeteroData:
        assert self.read is not None
        data, res = log_graph(self.read(files, options), options, source)
        if options['side_features']:
            for kind, role, what in (('item', 'movies', 'MovieID'),
                                     ('user', 'users', 'UserID')):
                if role in files:
                    ids, rows = _movielens_rows(role, files[role])
                    wanted = res.item_ids if kind == 'item' else res.user_ids
                    attach(data, kind, 'x',
                           _gather(ids, rows, wanted, files[role], what),
                           files[role], source)
        return data


def _movielens_rows(role: str, path: str) -> Tuple[np.ndarray, np.ndarray]:
    if role == 'movies':
        ids, _, genres = logs.read_movielens_movies(path)
        return ids, genres
    return logs.read_movielens_users(path)


_CATEGORY = r'[A-Za-z_\-&]+'

MOVIELENS = LogLayout(
    ('movielens', ),
    required={'ratings': _exact('ratings.dat')},
    optional={'movies': _exact('movies.dat'), 'users': _exact('users.dat')},
    read=lambda files, options: logs.read_movielens_ratings(files['ratings']))


def amazon_reviews(category: Optional[str] = None) -> LogLayout:
    r"""Amazon 2014 ``reviews_<category>_5.json`` (any category if
    :obj:`None`)."""
    cat = re.escape(category) if category else _CATEGORY
    return LogLayout(
        ('amazon-json', ), required={'reviews': (rf'reviews_{cat}_5\.json', )},
        read=lambda files, options: logs.read_amazon_reviews(
            files['reviews']))


def amazon_ratings(category: Optional[str] = None) -> LogLayout:
    r"""Amazon ``ratings_<category>.csv`` (any category if :obj:`None`)."""
    cat = re.escape(category) if category else _CATEGORY
    return LogLayout(
        ('amazon-csv', ), required={'ratings': (rf'ratings_{cat}\.csv', )},
        read=lambda files, options: logs.read_amazon_ratings_csv(
            files['ratings']))


TAOBAO = LogLayout(
    ('taobao', ), required={'behavior': _exact('UserBehavior.csv')},
    read=lambda files, options: logs.read_taobao_behavior(
        files['behavior'], behaviors=options['behavior'],
        time_window=options['time_window']))

#: The layouts a folder may hold, in the order they are looked for.
FOLDER_LAYOUTS: Tuple[Layout, ...] = (JSON, NPY, TEXT, MOVIELENS,
                                      amazon_reviews(), amazon_ratings(),
                                      TAOBAO)

#: The values of a folder's ``format`` option besides ``'auto'``.
FORMATS: Tuple[str, ...] = tuple(
    f for lay in FOLDER_LAYOUTS for f in (lay.formats[1:] or lay.formats))
