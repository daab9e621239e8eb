r"""`RecommenderDataset`: implicit-feedback recommendation data as a single
:class:`~torch_geometric.data.HeteroData` graph.

``dataset[0]`` holds

* ``data['user'].num_nodes``, ``data['item'].num_nodes``;
* ``data['user', 'interacts', 'item'].edge_index`` -- training
  interactions, ``int64 [2, E_train]`` (row 0 user ids, row 1 item ids);
* ``.val_edge_index`` / ``.test_edge_index`` -- validation / test
  interactions, same layout;
  every split sorted by user, then item, free of duplicates;
* optional side information: ``data['item'].x`` / ``data['user'].x``
  (features, e.g. ML-1M genres / demographics) and
  ``data['item'].pretrained_emb`` / ``data['user'].pretrained_emb``
  (pre-trained embeddings shipped with a dataset, e.g. InfoDCL's
  ``iEmbeds_pt.npy`` / ``uEmbeds_pt.npy``).  Pipeline sources with integer
  original ids also store ``data[...].raw_id``.

Sources (``name``):

================== ===========================================================
``'synthetic'``    ``synthetic.generate_synthetic`` (options = its
                   arguments); no files.
``'office'``       InfoDCL's Amazon-Office split: ``train.txt``, ``valid.txt``,
                   ``test.txt`` (``u i`` pairs) [+ ``uEmbeds_pt.npy``,
                   ``iEmbeds_pt.npy``].
``'gowalla'``      LightGCN split: ``train.txt``, ``test.txt`` (``u i i ...``)
                   [+ ``user_list.txt``, ``item_list.txt``]; validation is
                   carved from train.
``'ml-1m'``        Full ML-1M, MulSetRank 80/20 split:
                   ``full_mulsetrank/{train,test}.txt`` (LightGCN lines) and
                   ``raw/{movies,users}.dat`` (item id = row of
                   ``movies.dat``, 3,883 items; genres in ``item.x``,
                   demographics in ``user.x``); validation carved from train.
``'ml-1m-diffrec'`` DiffRec ML-1M clean: ``diffrec_clean/{train,valid,test}_
                   list.npy(.gz)`` [+ ``item_emb.npy``].
``'baby'``         Amazon Baby 5-core: LATTICE ``{train,val,test}.json``
                   [+ ``user2id.json``, ``item2id.json``]; if absent, the raw
                   ``reviews_Baby_5.json(.gz)`` / ``ratings_Baby.csv`` go
                   through the preprocessing pipeline.
``'electronics'``  Amazon Electronics: ``reviews_Electronics_5.json(.gz)`` or
                   ``ratings_Electronics.csv`` -> pipeline.
``'ml-1m-ratings'`` MovieLens-1M ``ratings.dat`` (PyG ``MovieLens1M`` raw
                   layout, + ``movies.dat`` / ``users.dat``) -> pipeline;
                   every rating is an interaction by default (6,040 users,
                   3,706 items, as in InfoDCL).
``'taobao'``       Taobao ``UserBehavior.csv`` -> pipeline; keeps
                   ``behavior='buy'`` rows by default (purchases are the
                   positive feedback; page views are noisy and 50x larger)
                   within PyG's 9-day window.
``'folder'``       any folder (``raw_dir``, or pass the path itself as
                   ``name``): the layout is detected from its files (json /
                   npy / text splits, or one of the raw logs above; a text
                   split is read as ``u i`` pairs when every line has two
                   fields, else as LightGCN lines).  If the folder holds no
                   layout itself, exactly one immediate sub-folder may.
================== ===========================================================

``.gz`` versions of every file are accepted.

Options (``**options``, checked -- an unknown option is an error):

* all file sources: ``num_users`` / ``num_items`` (declared counts,
  overriding ``user_list.txt`` / ``item_list.txt`` / ``user2id.json`` /
  ``item2id.json`` / ML-1M side files / ``max id + 1``; an id beyond the
  count is an error), ``on_overlap`` (a pair in two splits: ``'drop'``
  (default) removes it from the earlier split -- test wins over validation,
  validation over train -- with a warning; ``'error'``; ``'keep'``),
  ``side_features`` (load features / pre-trained embeddings, default
  :obj:`True`);
* pre-split sources: ``one_based`` (ids in text / json / npy files start
  at 1, default :obj:`False`), ``text_format`` (``'auto'``, ``'pairs'``,
  ``'lightgcn'``), ``val_ratio`` / ``seed`` (validation carved per user from
  train when no validation file exists, see
  :func:`~torch_geometric_infodcl.data.preprocess.carve_validation`;
  default ``0.1`` / ``0``);
* raw-log sources: ``implicit_threshold`` (default :obj:`None`: every
  rating/review is a positive), ``k_core`` (int or ``(user_k, item_k)``;
  default ``5``, ``0`` for ``'ml-1m-ratings'``), ``split`` (``'random'`` or
  ``'temporal'``), ``val_ratio`` / ``test_ratio`` (default ``0.1`` each, the
  Office rule of :mod:`~torch_geometric_infodcl.data.preprocess`), ``seed``;
  Taobao also ``behavior`` (str, list or :obj:`None` for all) and
  ``time_window`` (``(start, end)`` or :obj:`None`).

Duplicates inside a split are dropped with a warning; users that only
appear in validation / test are kept with a warning (see
:func:`~torch_geometric_infodcl.data.preprocess.clean_splits`).

Raw files are read from ``raw_dir`` (default ``root/<name>/raw``) and, if
missing, downloaded there with :func:`torch_geometric.data.download_url`; a
failed download raises :class:`DatasetDownloadError` naming the URL and the
files to put in which folder.  The processed graph is cached as
``root/<name>/processed/data_<key>.pt``; ``<key>`` hashes the source, every
option (defaults filled in), the raw folder and the size / modification time
of every raw file used, the ``pre_transform`` and a format version, so a
change of any of them processes anew (a ``data_<key>.json`` beside it lists
what the key was made from).
"""
import copy
import hashlib
import inspect
import json
import os
import os.path as osp
import re
import shutil
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch_geometric.data import (
    HeteroData,
    InMemoryDataset,
    download_url,
    extract_gz,
    extract_zip,
)

from torch_geometric_infodcl.data import readers as R
from torch_geometric_infodcl.data.preprocess import (
    carve_validation,
    clean_splits,
    preprocess_interactions,
)
from torch_geometric_infodcl.data.synthetic import generate_synthetic
from torch_geometric_infodcl.typing import EDGE_TYPE

__all__ = [
    'RecommenderDataset',
    'DatasetDownloadError',
    'load_dataset',
    'detect_layout',
    'DATASET_NAMES',
    'EDGE_TYPE',
]

#: Bump when the processed output of the same inputs changes.
PROCESS_VERSION = 1

OFFICE_URL = ('https://raw.githubusercontent.com/Qin-lab-code/InfoDCL/'
              'c747e980aa7d4740b40cd81dd0717cbd14ae2c6c/data/office/')
ML1M_ZIP_URL = 'https://files.grouplens.org/datasets/movielens/ml-1m.zip'
MULSETRANK_URL = ('https://raw.githubusercontent.com/NoConst/MulSetRank/'
                  '4016c6315257ea090fbc07adb1bea56348c488d0/data/ml-1m/')
GOWALLA_URL = ('https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/'
               'master/data/gowalla/')
AMAZON_URL = ('http://snap.stanford.edu/data/amazon/productGraph/'
              'categoryFiles/reviews_{}_5.json.gz')
DIFFREC_URL = ('https://github.com/YiyanXu/DiffRec/tree/main/datasets '
               '(ml-1m_clean.rar)')
TAOBAO_WINDOW = (1511539200, 1512316799)  # 2017-11-25 .. 2017-12-03 (PyG)


def _taobao_url() -> str:
    from torch_geometric.datasets import Taobao
    return Taobao.url


class DatasetDownloadError(RuntimeError):
    r"""Raw files are missing and could not be downloaded."""


# Options ###################################################################

_COMMON = {
    'num_users': None,
    'num_items': None,
    'on_overlap': 'drop',
    'side_features': True,
}
_PRESPLIT = {
    'one_based': False,
    'text_format': 'auto',
    'val_ratio': 0.1,
    'seed': 0,
}
_PIPELINE = {
    'implicit_threshold': None,
    'k_core': 5,
    'split': 'random',
    'val_ratio': 0.1,
    'test_ratio': 0.1,
    'seed': 0,
}
_TAOBAO = {
    'behavior': 'buy',
    'time_window': TAOBAO_WINDOW,
}


def _synthetic_defaults() -> Dict[str, Any]:
    sig = inspect.signature(generate_synthetic)
    return {k: p.default for k, p in sig.parameters.items()}


# Sources ###################################################################


@dataclass(frozen=True)
class _Fetch:
    url: str
    subdir: str  # destination, relative to raw_dir
    files: Tuple[str, ...]  # files this step provides (in subdir)
    archive: str = ''  # '', 'zip' or 'gz'
    optional: bool = False  # not needed for the layout to be complete


@dataclass(frozen=True)
class _Source:
    name: str
    layouts: Tuple[str, ...]  # accepted layouts, in priority order
    subdirs: Tuple[str, ...] = ('', )  # where to look, relative to raw_dir
    options: Dict[str, Any] = field(default_factory=dict)
    fetch: Tuple[_Fetch, ...] = ()
    category: str = ''  # Amazon category
    need: Tuple[str, ...] = ()  # required side files (ML-1M)
    manual: str = ''  # instructions when there is no automatic download


def _opts(*parts: Dict[str, Any], **over: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for p in parts:
        out.update(p)
    out.update(over)
    return out


_SOURCES: Dict[str, _Source] = {
    'synthetic':
    _Source('synthetic', ('synthetic', ), options=_synthetic_defaults()),
    'office':
    _Source(
        'office', ('text', ),
        options=_opts(_COMMON, _PRESPLIT, text_format='pairs'),
        fetch=tuple(
            _Fetch(OFFICE_URL + f, '', (f, ), optional=f.endswith('.npy'))
            for f in ('train.txt', 'valid.txt', 'test.txt', 'uEmbeds_pt.npy',
                      'iEmbeds_pt.npy'))),
    'gowalla':
    _Source(
        'gowalla', ('text', ),
        options=_opts(_COMMON, _PRESPLIT, text_format='lightgcn'),
        fetch=tuple(
            _Fetch(GOWALLA_URL + f, '', (f, ), optional=f.endswith('list.txt'))
            for f in ('train.txt', 'test.txt', 'user_list.txt',
                      'item_list.txt'))),
    'ml-1m':
    _Source(
        'ml-1m', ('text', ), subdirs=('full_mulsetrank', ''),
        options=_opts(_COMMON, _PRESPLIT, text_format='lightgcn'),
        need=('movies.dat', 'users.dat'),
        fetch=(
            _Fetch(MULSETRANK_URL + 'train.txt', 'full_mulsetrank',
                   ('train.txt', )),
            _Fetch(MULSETRANK_URL + 'test.txt', 'full_mulsetrank',
                   ('test.txt', )),
            _Fetch(ML1M_ZIP_URL, 'raw', ('movies.dat', 'users.dat'), 'zip'),
        )),
    'ml-1m-diffrec':
    _Source(
        'ml-1m-diffrec', ('diffrec', ),
        subdirs=('diffrec_clean', 'ml-1m_clean', ''),
        options=_opts(_COMMON, _PRESPLIT),
        manual=('DiffRec ships ML-1M as a RAR archive, which cannot be '
                f'extracted automatically: get it from {DIFFREC_URL}, '
                'extract it and put train_list.npy, valid_list.npy and '
                'test_list.npy (optionally item_emb.npy) into '
                '{folder}')),
    'baby':
    _Source(
        'baby', ('json', 'amazon-reviews', 'amazon-ratings'),
        subdirs=('', '5-core'), category='Baby',
        options=_opts(_COMMON, _PRESPLIT, _PIPELINE),
        fetch=(_Fetch(AMAZON_URL.format('Baby'), '',
                      ('reviews_Baby_5.json.gz', )), )),
    'electronics':
    _Source(
        'electronics', ('amazon-reviews', 'amazon-ratings'),
        category='Electronics', options=_opts(_COMMON, _PIPELINE),
        fetch=(_Fetch(AMAZON_URL.format('Electronics'), '',
                      ('reviews_Electronics_5.json.gz', )), )),
    'ml-1m-ratings':
    _Source(
        'ml-1m-ratings', ('ml1m-ratings', ), subdirs=('', 'raw', 'ml-1m'),
        options=_opts(_COMMON, _PIPELINE, k_core=0),
        fetch=(_Fetch(ML1M_ZIP_URL, 'ml-1m',
                      ('ratings.dat', 'movies.dat', 'users.dat'), 'zip'), )),
    'taobao':
    _Source(
        'taobao', ('taobao', ), options=_opts(_COMMON, _PIPELINE, _TAOBAO),
        fetch=(_Fetch('<Taobao.url>', '', ('UserBehavior.csv', ), 'zip'), )),
    'folder':
    _Source(
        'folder', ('json', 'diffrec', 'text', 'ml1m-ratings',
                   'amazon-reviews', 'amazon-ratings', 'taobao'),
        options=_opts(_COMMON, _PRESPLIT, _PIPELINE, _TAOBAO)),
}

#: The dataset names :class:`RecommenderDataset` accepts (besides a path).
DATASET_NAMES: Tuple[str, ...] = tuple(_SOURCES)

_PIPELINE_LAYOUTS = ('ml1m-ratings', 'amazon-reviews', 'amazon-ratings',
                     'taobao')


# Layout detection ##########################################################


@dataclass
class Layout:
    r"""A detected raw layout: its kind, folder and the files it uses."""
    kind: str
    folder: str
    files: Dict[str, str]  # role -> path

    def used_paths(self) -> List[str]:
        return sorted(set(self.files.values()))


def _first_match(folder: str, pattern: str) -> Optional[str]:
    rx = re.compile(pattern)
    for f in R.list_files(folder):
        if rx.fullmatch(f):
            return osp.join(folder, f)
    return None


def _detect_in(folder: str, kind: str, category: str = '') -> Optional[Layout]:
    f = R.find_file
    if not osp.isdir(folder):
        return None
    files: Dict[str, Optional[str]] = {}
    if kind == 'json':
        files = {
            'train': f(folder, ['train.json']),
            'val': f(folder, ['val.json', 'valid.json']),
            'test': f(folder, ['test.json']),
            'user_count': f(folder, ['user2id.json']),
            'item_count': f(folder, ['item2id.json']),
        }
    elif kind == 'diffrec':
        files = {
            'train': f(folder, ['train_list.npy']),
            'val': f(folder, ['valid_list.npy', 'val_list.npy']),
            'test': f(folder, ['test_list.npy']),
            'item_emb': f(folder, ['item_emb.npy']),
        }
    elif kind == 'text':
        files = {
            'train': f(folder, ['train.txt']),
            'val': f(folder, ['valid.txt', 'val.txt']),
            'test': f(folder, ['test.txt']),
            'user_count': f(folder, ['user_list.txt']),
            'item_count': f(folder, ['item_list.txt']),
            'user_emb': f(folder, ['uEmbeds_pt.npy']),
            'item_emb': f(folder, ['iEmbeds_pt.npy']),
        }
    elif kind == 'ml1m-ratings':
        files = {'ratings': f(folder, ['ratings.dat'])}
        if files['ratings']:
            files['movies'] = f(folder, ['movies.dat'])
            files['users'] = f(folder, ['users.dat'])
    elif kind == 'amazon-reviews':
        cat = re.escape(category) if category else r'[A-Za-z_\-&]+'
        files = {'reviews': _first_match(
            folder, rf'reviews_{cat}_5\.json(\.gz)?')}
    elif kind == 'amazon-ratings':
        cat = re.escape(category) if category else r'[A-Za-z_\-&]+'
        files = {
            'ratings': _first_match(folder, rf'ratings_{cat}\.csv(\.gz)?')
        }
    elif kind == 'taobao':
        files = {'behavior': f(folder, ['UserBehavior.csv'])}
    else:  # pragma: no cover
        raise ValueError(kind)
    main = [r for r in ('train', 'test', 'ratings', 'reviews', 'behavior')
            if r in files]
    if not all(files[r] for r in main):
        return None
    return Layout(kind, folder, {k: v for k, v in files.items() if v})


def detect_layout(folder: str,
                  layouts: Sequence[str] = _SOURCES['folder'].layouts,
                  subdirs: Sequence[str] = ('', ), category: str = '',
                  search_children: bool = False) -> Optional[Layout]:
    r"""Finds the first of :obj:`layouts` present in ``folder/<subdir>``
    for :obj:`subdirs` in order (then, with :obj:`search_children`, in the
    immediate sub-folders of :obj:`folder`, of which exactly one may hold a
    layout).  Returns :obj:`None` if none is found."""
    for sub in subdirs:
        for kind in layouts:
            lay = _detect_in(osp.join(folder, sub), kind, category)
            if lay is not None:
                return lay
    if search_children and osp.isdir(folder):
        found = []
        for child in sorted(os.listdir(folder)):
            path = osp.join(folder, child)
            if not osp.isdir(path):
                continue
            lay = detect_layout(path, layouts, ('', ), category)
            if lay is not None:
                found.append(lay)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"folder '{folder}' holds several datasets: " + ', '.join(
                    f"'{osp.relpath(lay.folder, folder)}' ({lay.kind})"
                    for lay in found) + '; pass one of them as raw_dir')
    return None


# The dataset ###############################################################


def _repr_obj(obj: Any) -> str:
    if obj is None:
        return 'None'
    return re.sub('(<.*?)\\s.*(>)', r'\1\2', str(obj))


def _to_tensor(pairs: np.ndarray) -> torch.Tensor:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return torch.from_numpy(np.ascontiguousarray(pairs.T))


class RecommenderDataset(InMemoryDataset):
    r"""Implicit-feedback recommendation datasets as one
    :class:`~torch_geometric.data.HeteroData` graph with train / validation
    / test interactions (see the module docstring for the sources, the
    options, the layout of the graph and the caching).

    Args:
        root (str): Root directory; raw files default to
            ``root/<name>/raw``, processed files go to
            ``root/<name>/processed``.
        name (str): A dataset name (:data:`DATASET_NAMES`) or the path of a
            folder whose layout is detected.
        raw_dir (str, optional): Read raw files from here instead of
            ``root/<name>/raw`` (nothing is copied).
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied before saving.
        force_reload (bool, optional): Re-process even if cached.
        **options: Source options (see the module docstring).

    Example::

        ds = RecommenderDataset('/tmp/x', 'office',
                                raw_dir='/work/shared/data/office')
        data = ds[0]
        data['user', 'interacts', 'item'].edge_index  # [2, 40877]
    """
    def __init__(
        self,
        root: str,
        name: str,
        raw_dir: Optional[str] = None,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
        **options: Any,
    ) -> None:
        name = str(name)
        if name not in _SOURCES:
            if osp.isdir(name) or os.sep in name or name.startswith('.'):
                if raw_dir is not None:
                    raise ValueError(f"pass either a folder as name or "
                                     f"raw_dir, not both (got name='{name}', "
                                     f"raw_dir='{raw_dir}')")
                raw_dir, name = name, 'folder'
            else:
                raise ValueError(
                    f"unknown dataset '{name}'; valid names: "
                    f"{', '.join(DATASET_NAMES)} (or the path of a folder "
                    f"holding a supported layout)")
        if name == 'folder' and raw_dir is None:
            raise ValueError(
                "name='folder' needs raw_dir (the folder to read)")
        self.name = name
        self.source = _SOURCES[name]
        self._raw_dir = (osp.abspath(osp.expanduser(raw_dir))
                         if raw_dir is not None else None)
        if name == 'folder' and not osp.isdir(self._raw_dir):
            raise FileNotFoundError(f"folder '{self._raw_dir}' does not exist")
        self.options = self._check_options(options)
        self._layout: Optional[Layout] = None
        self._key: Optional[str] = None
        super().__init__(root, transform, pre_transform,
                         force_reload=force_reload)
        self.load(self.processed_paths[0], data_cls=HeteroData)

    # Options / paths -------------------------------------------------------

    def _check_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        valid = self.source.options
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise TypeError(
                f"RecommenderDataset('{self.name}'): unknown option(s) "
                f"{unknown}; valid options: {sorted(valid)}")
        out = copy.deepcopy(valid)
        out.update(options)
        if self.name != 'synthetic':
            if out['on_overlap'] not in ('drop', 'error', 'keep'):
                raise ValueError(f"on_overlap must be 'drop', 'error' or "
                                 f"'keep' (got {out['on_overlap']!r})")
            if out.get('text_format', 'auto') not in ('auto', 'pairs',
                                                      'lightgcn'):
                raise ValueError(f"text_format must be 'auto', 'pairs' or "
                                 f"'lightgcn' (got {out['text_format']!r})")
            if out.get('split', 'random') not in ('random', 'temporal'):
                raise ValueError(f"split must be 'random' or 'temporal' "
                                 f"(got {out['split']!r})")
        if isinstance(out.get('time_window'), list):
            out['time_window'] = tuple(out['time_window'])
        return out

    @property
    def raw_dir(self) -> str:
        if self._raw_dir is not None:
            return self._raw_dir
        return osp.join(self.root, self.name, 'raw')

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.name, 'processed')

    @property
    def raw_file_names(self) -> List[str]:
        lay = self.layout
        return [] if lay is None else [
            osp.relpath(p, self.raw_dir) for p in lay.used_paths()
        ]

    @property
    def processed_file_names(self) -> str:
        return f'data_{self.key}.pt'

    @property
    def layout(self) -> Optional[Layout]:
        r"""The detected raw layout (:obj:`None` for ``'synthetic'``)."""
        if self.name == 'synthetic':
            return None
        if self._layout is None:
            self._layout = self._find_layout()
        return self._layout

    def _find_layout(self, missing_ok: bool = False) -> Optional[Layout]:
        src = self.source
        lay = detect_layout(self.raw_dir, src.layouts, src.subdirs,
                            src.category,
                            search_children=self.name == 'folder')
        if lay is not None:
            side = self._side_files(lay)
            if side is None:
                lay = None
            else:
                lay.files.update(side)
        if lay is None and not missing_ok:
            raise FileNotFoundError(self._missing_message())
        return lay

    def _side_files(self, lay: Layout) -> Optional[Dict[str, str]]:
        r"""Required side files of ML-1M (``movies.dat``, ``users.dat``)."""
        if not self.source.need:
            return {}
        out = {}
        for f in self.source.need:
            path = None
            for sub in ('raw', '', 'ml-1m'):
                path = R.find_file(osp.join(self.raw_dir, sub), [f])
                if path:
                    break
            if path is None:
                path = R.find_file(osp.dirname(lay.folder), [f])
            if path is None:
                return None
            out[f.split('.')[0]] = path
        return out

    def _expected_files(self) -> str:
        src = self.source
        if src.name == 'folder':
            return ('one of: train.json + test.json [+ val.json] | '
                    'train_list.npy + test_list.npy [+ valid_list.npy] | '
                    'train.txt + test.txt [+ valid.txt] | ratings.dat | '
                    'reviews_<Category>_5.json | ratings_<Category>.csv | '
                    'UserBehavior.csv')
        groups: Dict[str, List[str]] = {}
        for fe in src.fetch:
            folder = osp.join(self.raw_dir, fe.subdir)
            names = [f + (' (optional)' if fe.optional else '')
                     for f in fe.files]
            if fe.archive == 'zip' and fe.url.endswith('ml-1m.zip'):
                names = [f'{f} (from {fe.url})' for f in names]
            groups.setdefault(folder, []).extend(names)
        if src.name == 'ml-1m-diffrec':
            groups[osp.join(self.raw_dir, 'diffrec_clean')] = [
                'train_list.npy', 'valid_list.npy', 'test_list.npy',
                'item_emb.npy (optional)'
            ]
        if src.name == 'baby':
            groups.setdefault(self.raw_dir, []).insert(
                0, 'train.json, val.json, test.json [user2id.json, '
                'item2id.json] (LATTICE split) -- or')
        return '; '.join(f"into '{folder}': {', '.join(names)}"
                         for folder, names in groups.items())

    def _missing_message(self) -> str:
        return (f"RecommenderDataset('{self.name}'): raw files not found "
                f"under '{self.raw_dir}'. Expected {self._expected_files()} "
                f"('.gz' versions accepted).")

    # Download --------------------------------------------------------------

    def _download(self) -> None:
        if self.name == 'synthetic':
            return
        lay = self._find_layout(missing_ok=True)
        if lay is not None:
            self._layout = lay
            return
        if self.name == 'folder':
            raise FileNotFoundError(self._missing_message())
        self.download()
        self._layout = self._find_layout()

    def download(self) -> None:
        src = self.source
        if src.manual:
            folder = osp.join(self.raw_dir, src.subdirs[0])
            raise DatasetDownloadError(
                f"RecommenderDataset('{self.name}'): raw files not found "
                f"under '{self.raw_dir}'. " + src.manual.format(
                    folder=f"'{folder}'") + " ('.gz' versions accepted), or "
                "pass raw_dir='<folder holding them>'.")
        for fe in src.fetch:
            dest = osp.join(self.raw_dir, fe.subdir)
            if all(R.find_file(dest, [f]) for f in fe.files):
                continue
            url = _taobao_url() if fe.url == '<Taobao.url>' else fe.url
            try:
                os.makedirs(dest, exist_ok=True)
                path = download_url(url, dest, log=self.log)
                if fe.archive == 'zip':
                    self._unzip(path, dest, fe.files)
                elif fe.archive == 'gz':
                    extract_gz(path, dest, log=self.log)
                    os.remove(path)
            except Exception as e:
                if fe.optional:
                    warnings.warn(
                        f"RecommenderDataset('{self.name}'): could not "
                        f"download optional file from {url} ({e})",
                        stacklevel=2)
                    continue
                raise DatasetDownloadError(
                    f"RecommenderDataset('{self.name}'): could not download "
                    f"{url} ({type(e).__name__}: {e}). Without network "
                    f"access, put the raw files in place yourself: "
                    f"{self._expected_files()} ('.gz' versions accepted), or "
                    f"pass raw_dir='<folder holding them>'.") from e

    def _unzip(self, path: str, dest: str, wanted: Sequence[str]) -> None:
        tmp = osp.join(dest, '_extract')
        extract_zip(path, tmp, log=self.log)
        os.remove(path)
        for dirpath, _, names in os.walk(tmp):
            for f in names:
                target = osp.join(dest, f)
                if (f in wanted or self.name in ('ml-1m-ratings', 'taobao')
                        or f.endswith('.dat') or f == 'README') and \
                        not osp.exists(target):
                    shutil.move(osp.join(dirpath, f), target)
        shutil.rmtree(tmp, ignore_errors=True)

    # Caching ---------------------------------------------------------------

    @property
    def key(self) -> str:
        r"""Hash of everything the processed graph depends on."""
        if self._key is None:
            self._key = hashlib.sha1(json.dumps(
                self._key_info(), sort_keys=True,
                default=str).encode()).hexdigest()[:16]
        return self._key

    def _key_info(self) -> Dict[str, Any]:
        info: Dict[str, Any] = {
            'version': PROCESS_VERSION,
            'source': self.name,
            'options': self.options,
            'pre_transform': _repr_obj(self.pre_transform),
        }
        lay = self.layout
        if lay is not None:
            info['raw_dir'] = self.raw_dir
            info['layout'] = lay.kind
            files = {}
            for role, path in sorted(lay.files.items()):
                st = os.stat(path)
                files[role] = [osp.relpath(path, self.raw_dir), st.st_size,
                               st.st_mtime_ns]
            info['files'] = files
        return info

    def _process(self) -> None:
        # Replaces PyG's check: the cache key already covers the
        # pre_transform, so a different one never reuses a stale file.
        path = self.processed_paths[0]
        if not self.force_reload and osp.exists(path):
            return
        os.makedirs(self.processed_dir, exist_ok=True)
        self.process()
        with open(osp.join(self.processed_dir, f'data_{self.key}.json'),
                  'w') as f:
            json.dump(self._key_info(), f, indent=1, sort_keys=True,
                      default=str)

    # Processing ------------------------------------------------------------

    def process(self) -> None:
        if self.name == 'synthetic':
            data = generate_synthetic(**self.options)
        else:
            lay = self.layout
            if lay.kind in _PIPELINE_LAYOUTS:
                data = self._process_pipeline(lay)
            else:
                data = self._process_presplit(lay)
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

    def _label(self) -> str:
        return (f"'{self.name}'" if self.name != 'folder' else
                f"folder '{self.raw_dir}'")

    def _process_presplit(self, lay: Layout) -> HeteroData:
        opt = self.options
        one_based = opt['one_based']
        text_format = opt['text_format']
        if lay.kind == 'text' and text_format == 'auto':
            # One format for all files of the layout, told by train:
            text_format = R.detect_text_format(lay.files['train'])

        def read(path: str) -> np.ndarray:
            if lay.kind == 'json':
                return R.read_json_lists(path, one_based=one_based)
            if lay.kind == 'diffrec':
                return R.read_npy_pairs(path, one_based=one_based)
            return R.read_interaction_text(path, text_format,
                                           one_based=one_based)

        splits = {r: read(lay.files[r]) for r in ('train', 'test')}
        if 'val' in lay.files:
            splits['val'] = read(lay.files['val'])
        else:
            splits['train'], splits['val'] = carve_validation(
                splits['train'], opt['val_ratio'], opt['seed'])

        user_x = item_x = None
        declared = {'user': None, 'item': None}
        for kind in ('user', 'item'):
            path = lay.files.get(f'{kind}_count')
            if path:
                declared[kind] = R.count_id_list(path)
        if 'movies' in lay.files:  # ML-1M: item id = row of movies.dat
            _, _, genres = R.read_movielens_movies(lay.files['movies'])
            _, demo = R.read_movielens_users(lay.files['users'])
            declared = {'user': demo.shape[0], 'item': genres.shape[0]}
            if opt['side_features']:
                user_x, item_x = demo, genres
        num = self._node_counts(splits, declared)
        splits = clean_splits(
            splits, num['user'], num['item'], opt['on_overlap'],
            source=self._label(),
            files={r: lay.files[r] for r in ('train', 'val', 'test')
                   if r in lay.files})
        data = self._assemble(splits, num)
        if opt['side_features']:
            self._attach(data, 'user', 'x', user_x, 'users.dat')
            self._attach(data, 'item', 'x', item_x, 'movies.dat')
            for kind in ('user', 'item'):
                path = lay.files.get(f'{kind}_emb')
                if path:
                    self._attach(data, kind, 'pretrained_emb',
                                 R.read_embedding(path), path)
        return data

    def _node_counts(self, splits: Dict[str, np.ndarray],
                     declared: Dict[str, Optional[int]]) -> Dict[str, int]:
        num = {}
        for col, kind in ((0, 'user'), (1, 'item')):
            opt = self.options[f'num_{kind}s']
            if opt is not None:
                num[kind] = int(opt)
            elif declared[kind] is not None:
                num[kind] = int(declared[kind])
            else:
                num[kind] = 1 + max(
                    (int(s[:, col].max()) for s in splits.values()
                     if s.size), default=-1)
        return num

    def _process_pipeline(self, lay: Layout) -> HeteroData:
        opt = self.options
        rating = timestamp = None
        if lay.kind == 'ml1m-ratings':
            log = R.read_movielens_ratings(lay.files['ratings'])
        elif lay.kind == 'amazon-reviews':
            log = R.read_amazon_reviews(lay.files['reviews'])
        elif lay.kind == 'amazon-ratings':
            log = R.read_amazon_ratings_csv(lay.files['ratings'])
        else:
            log = R.read_taobao_behavior(lay.files['behavior'],
                                         behaviors=opt['behavior'],
                                         time_window=opt['time_window'])
        rating = log.get('rating')
        timestamp = log.get('timestamp')
        res = preprocess_interactions(
            log['user'], log['item'], rating, timestamp,
            implicit_threshold=opt['implicit_threshold'],
            k_core=opt['k_core'], split=opt['split'],
            val_ratio=opt['val_ratio'], test_ratio=opt['test_ratio'],
            seed=opt['seed'])
        if res.num_users == 0:
            raise ValueError(
                f'{self._label()}: no interaction is left after '
                f'preprocessing ({res.stats}); lower implicit_threshold / '
                f'k_core or check the behaviour / time filters')
        splits = {'train': res.train, 'val': res.val, 'test': res.test}
        num = self._node_counts(splits, {
            'user': res.num_users,
            'item': res.num_items
        })
        for kind, n in (('user', res.num_users), ('item', res.num_items)):
            if num[kind] < n:
                raise ValueError(
                    f'{self._label()}: num_{kind}s={num[kind]} is smaller '
                    f'than the {n} {kind}s left after preprocessing')
        splits = clean_splits(splits, num['user'], num['item'],
                              opt['on_overlap'], source=self._label())
        data = self._assemble(splits, num)
        for kind, ids in (('user', res.user_ids), ('item', res.item_ids)):
            if ids.dtype.kind in 'iu' and num[kind] == ids.shape[0]:
                data[kind].raw_id = torch.from_numpy(ids.astype(np.int64))
        if lay.kind == 'ml1m-ratings' and opt['side_features']:
            if lay.files.get('movies'):
                mids, _, genres = R.read_movielens_movies(lay.files['movies'])
                self._attach(data, 'item', 'x',
                             self._gather(mids, genres, res.item_ids,
                                          lay.files['movies'], 'MovieID'),
                             lay.files['movies'])
            if lay.files.get('users'):
                uids, demo = R.read_movielens_users(lay.files['users'])
                self._attach(data, 'user', 'x',
                             self._gather(uids, demo, res.user_ids,
                                          lay.files['users'], 'UserID'),
                             lay.files['users'])
        return data

    @staticmethod
    def _gather(ids: np.ndarray, rows: np.ndarray, wanted: np.ndarray,
                path: str, what: str) -> np.ndarray:
        order = np.argsort(ids)
        pos = np.searchsorted(ids, wanted, sorter=order)
        pos = np.clip(pos, 0, max(ids.size - 1, 0))
        found = ids.size > 0 and (ids[order[pos]] == wanted)
        if not np.all(found):
            missing = wanted[~np.asarray(found)] if ids.size else wanted
            raise ValueError(
                f"'{path}': {len(missing)} {what}(s) of the ratings are "
                f"missing, e.g. {missing[:5].tolist()}")
        return rows[order[pos]]

    def _assemble(self, splits: Dict[str, np.ndarray],
                  num: Dict[str, int]) -> HeteroData:
        data = HeteroData()
        data['user'].num_nodes = num['user']
        data['item'].num_nodes = num['item']
        store = data[EDGE_TYPE]
        store.edge_index = _to_tensor(splits['train'])
        store.val_edge_index = _to_tensor(splits['val'])
        store.test_edge_index = _to_tensor(splits['test'])
        return data

    def _attach(self, data: HeteroData, kind: str, attr: str,
                value: Optional[np.ndarray], path: str) -> None:
        if value is None:
            return
        n = data[kind].num_nodes
        if value.ndim != 2 or value.shape[0] != n:
            raise ValueError(
                f"{self._label()}: {kind} {attr} from '{path}' has shape "
                f"{list(value.shape)}, but there are {n} {kind}s (expected "
                f"[{n}, d])")
        data[kind][attr] = torch.from_numpy(np.ascontiguousarray(value)).to(
            torch.float)

    # Misc ------------------------------------------------------------------

    @property
    def num_users(self) -> int:
        return int(self._data['user'].num_nodes)

    @property
    def num_items(self) -> int:
        return int(self._data['item'].num_nodes)

    def __repr__(self) -> str:
        store = self._data[EDGE_TYPE]
        return (f'{self.__class__.__name__}({self.name}, '
                f'users={self.num_users}, items={self.num_items}, '
                f'train={store.edge_index.size(1)}, '
                f'val={store.val_edge_index.size(1)}, '
                f'test={store.test_edge_index.size(1)})')


def load_dataset(name_or_folder: str, root: str, raw_dir: Optional[str] = None,
                 **options: Any) -> HeteroData:
    r"""Shortcut for ``RecommenderDataset(root, name_or_folder, raw_dir,
    **options)[0]``; :obj:`name_or_folder` is a dataset name
    (:data:`DATASET_NAMES`) or a folder path (layout detected).  The
    ``transform`` / ``pre_transform`` / ``force_reload`` keywords are passed
    on."""
    kw = {k: options.pop(k) for k in ('transform', 'pre_transform',
                                      'force_reload') if k in options}
    return RecommenderDataset(root, name_or_folder, raw_dir=raw_dir, **kw,
                              **options)[0]
