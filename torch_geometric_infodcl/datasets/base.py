r"""The base classes of every dataset: options, the processed cache and
raw files.

:class:`InteractionDataset` is an
:class:`~torch_geometric.data.InMemoryDataset` holding one
:class:`~torch_geometric.data.HeteroData` graph (see
:mod:`~torch_geometric_infodcl.datasets.graph`).  Its processed file
``root/<name>/processed/data_<key>.pt`` is keyed by a hash of everything the
graph depends on -- the dataset, every option (defaults filled in), the
``pre_transform``, a format version and, for file datasets, the SHA-256 of
every raw file used -- so any change processes anew (``data_<key>.json``
beside it lists what the key was made from).  The file is written atomically
and, if it cannot be read (e.g. a kill during a save by an older version
left it truncated), rebuilt with a warning naming it.

:class:`FileDataset` adds raw files: the :class:`~torch_geometric_infodcl.
datasets.layouts.Layout` s a source accepts, looked for in ``raw_dir``
(default ``root/<name>/raw``), and :meth:`FileDataset.fetch` for the
``download`` of a source: a failed download raises
:class:`DatasetDownloadError` naming the URL and the files to put in which
folder.
"""
import copy
import hashlib
import json
import os
import os.path as osp
import re
import shutil
import warnings
from typing import (Any, Callable, ClassVar, Dict, List, Mapping, NamedTuple,
                    Optional, Sequence, Tuple)

from torch_geometric.data import (
    HeteroData,
    InMemoryDataset,
    download_url,
    extract_zip,
)

from torch_geometric_infodcl.datasets.files import (
    atomic_path,
    content_hash,
    find_file,
)
from torch_geometric_infodcl.datasets.graph import EDGE_TYPE
from torch_geometric_infodcl.datasets.layouts import Layout

__all__ = ['DatasetDownloadError', 'InteractionDataset', 'FileDataset',
           'COMMON_OPTIONS', 'SPLIT_OPTIONS', 'LOG_OPTIONS']

#: Bump when the processed output of the same inputs changes.
PROCESS_VERSION = 2

#: Options of every file dataset: declared node counts (overriding id maps,
#: side files and ``max id + 1``; an id beyond a count is an error), the
#: handling of a pair in two splits (``'drop'`` removes it from the earlier
#: split -- test wins over validation, validation over train -- with a
#: warning; ``'error'``; ``'keep'``) and whether to load side features.
COMMON_OPTIONS: Dict[str, Any] = {
    'num_users': None,
    'num_items': None,
    'on_overlap': 'drop',
    'side_features': True,
}

#: Options of pre-split files: ids starting at 1, and the validation set
#: carved per user from train when no validation file exists (see
#: :func:`~torch_geometric_infodcl.datasets.preprocess.carve_validation`).
SPLIT_OPTIONS: Dict[str, Any] = {
    'one_based': False,
    'val_ratio': 0.1,
    'seed': 0,
}

#: Options of raw logs (see :func:`~torch_geometric_infodcl.datasets.
#: preprocess.preprocess_interactions`).
LOG_OPTIONS: Dict[str, Any] = {
    'implicit_threshold': None,
    'k_core': 5,
    'split': 'random',
    'val_ratio': 0.1,
    'test_ratio': 0.1,
    'seed': 0,
}

_CHOICES = {
    'on_overlap': ('drop', 'error', 'keep'),
    'split': ('random', 'temporal'),
}


class DatasetDownloadError(RuntimeError):
    r"""Raw files are missing and could not be downloaded."""


def _repr_obj(obj: Any) -> str:
    return 'None' if obj is None else re.sub('(<.*?)\\s.*(>)', r'\1\2',
                                             str(obj))


class InteractionDataset(InMemoryDataset):
    r"""Base class of the datasets of this package: one
    :class:`~torch_geometric.data.HeteroData` graph built by :meth:`build`
    and cached under ``root/<name>/processed`` (see the module docstring).

    Subclasses set :attr:`name` and :attr:`options_defaults` and implement
    :meth:`build`.

    Args:
        root (str): Root directory; processed files go to
            ``root/<name>/processed``.
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied before saving; part of
            the cache key.
        force_reload (bool, optional): Re-process even if cached.
        **options: The dataset's options (an unknown one is an error).
    """
    #: The dataset name (the folder under :obj:`root`).
    name: ClassVar[str]
    #: The accepted options and their defaults.
    options_defaults: ClassVar[Mapping[str, Any]] = {}
    #: Accepted values of the ``format`` option, if the dataset has one.
    formats: ClassVar[Tuple[str, ...]] = ()

    def __init__(self, root: str, transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 force_reload: bool = False, **options: Any) -> None:
        self.options = self._check_options(options)
        self._key: Optional[str] = None
        self._info: Dict[str, Any] = {}
        # PyG keeps one `pre_transform.pt` per processed folder and warns
        # when it differs; here every pre_transform has its own cache file
        # (it is part of the key), so PyG's check is not used.
        self._pre_transform = pre_transform
        super().__init__(root, transform, None, force_reload=force_reload)
        self.pre_transform = pre_transform
        self._load_processed()

    @property
    def label(self) -> str:
        r"""How messages name this dataset."""
        return f"RecommenderDataset('{self.name}')"

    def _check_options(self, options: Dict[str, Any]) -> Dict[str, Any]:
        unknown = sorted(set(options) - set(self.options_defaults))
        if unknown:
            raise TypeError(
                f'{self.label}: unknown option(s) {unknown}; valid options: '
                f'{sorted(self.options_defaults)}')
        out = copy.deepcopy(dict(self.options_defaults))
        out.update(options)
        choices = dict(_CHOICES, format=self.formats)
        for key, valid in choices.items():
            if key in out and out[key] not in valid:
                raise ValueError(f'{key} must be one of {list(valid)} (got '
                                 f'{out[key]!r})')
        if isinstance(out.get('time_window'), list):
            out['time_window'] = tuple(out['time_window'])
        return out

    # Cache ------------------------------------------------------------------

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.name, 'processed')

    @property
    def processed_file_names(self) -> str:
        return f'data_{self.key}.pt'

    @property
    def key(self) -> str:
        r"""Hash of everything the processed graph depends on (computed
        once: it reads every raw file)."""
        if self._key is None:
            self._info = self.cache_info()
            self._key = hashlib.sha1(json.dumps(
                self._info, sort_keys=True,
                default=str).encode()).hexdigest()[:16]
        return self._key

    def cache_info(self) -> Dict[str, Any]:
        r"""What the processed graph depends on (hashed into :attr:`key`)."""
        return {
            'version': PROCESS_VERSION,
            'source': self.name,
            'options': self.options,
            'pre_transform': _repr_obj(self._pre_transform),
        }

    def build(self) -> HeteroData:
        r"""Builds the graph (called by :meth:`process`)."""
        raise NotImplementedError

    def process(self) -> None:
        data = self.build()
        if self._pre_transform is not None:
            data = self._pre_transform(data)
        path = self.processed_paths[0]
        with atomic_path(path) as tmp:
            self.save([data], tmp)
        with atomic_path(path[:-len('.pt')] + '.json') as tmp:
            with open(tmp, 'w') as f:
                json.dump(self._info, f, indent=1, sort_keys=True,
                          default=str)

    def _load_processed(self) -> None:
        path = self.processed_paths[0]
        try:
            self.load(path, data_cls=HeteroData)
        except Exception as e:  # truncated, garbled or foreign file
            warnings.warn(
                f"{self.label}: the processed file '{path}' cannot be read "
                f'({type(e).__name__}: {e}); rebuilding it from the raw '
                f'files', stacklevel=3)
            self.process()
            self.load(path, data_cls=HeteroData)

    # Misc -------------------------------------------------------------------

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


class Found(NamedTuple):
    r"""The raw files of a dataset: their layout and role -> path."""
    layout: Layout
    files: Dict[str, str]


class FileDataset(InteractionDataset):
    r"""A dataset read from raw files in one of its :attr:`layouts`, looked
    for in ``raw_dir/<subdir>`` for :attr:`subdirs` in order.

    Subclasses that can fetch their files define ``download`` with
    :meth:`fetch`.

    Args:
        root (str): Root directory (see :class:`InteractionDataset`).
        raw_dir (str, optional): Read raw files from here instead of
            ``root/<name>/raw`` (nothing is copied).
        transform, pre_transform, force_reload, **options: See
            :class:`InteractionDataset`.
    """
    #: The accepted layouts, in priority order.
    layouts: ClassVar[Tuple[Layout, ...]] = ()
    #: Where to look, relative to ``raw_dir``.
    subdirs: ClassVar[Tuple[str, ...]] = ('', )

    def __init__(self, root: str, raw_dir: Optional[str] = None,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 force_reload: bool = False, **options: Any) -> None:
        self._raw_dir = (osp.abspath(osp.expanduser(raw_dir))
                         if raw_dir is not None else None)
        self._found: Optional[Found] = None
        super().__init__(root, transform, pre_transform, force_reload,
                         **options)

    @property
    def raw_dir(self) -> str:
        if self._raw_dir is not None:
            return self._raw_dir
        return osp.join(self.root, self.name, 'raw')

    @property
    def raw_file_names(self) -> List[str]:
        found = self.find_raw_files()
        return [] if found is None else sorted(
            osp.relpath(p, self.raw_dir) for p in found.files.values())

    # Finding the files -------------------------------------------------------

    def find_raw_files(self) -> Optional[Found]:
        r"""The first of :attr:`layouts` present (cached once found), or
        :obj:`None`."""
        if self._found is None:
            self._found = self.locate()
        return self._found

    def locate(self) -> Optional[Found]:
        r"""Looks for the raw files (see :meth:`find_raw_files`)."""
        for sub in self.subdirs:
            folder = osp.join(self.raw_dir, sub)
            for layout in self.layouts:
                files = layout.find(folder)
                if files is not None:
                    return Found(layout, files)
        return None

    @property
    def found(self) -> Found:
        r"""The raw files; a clear error if they are missing."""
        found = self.find_raw_files()
        if found is None:
            raise FileNotFoundError(
                f"{self.label}: raw files not found under '{self.raw_dir}'. "
                f"Expected {self.expected_files()} ('.gz' versions "
                f'accepted).')
        return found

    def expected_files(self) -> str:
        r"""The raw files this dataset reads, and where, for messages."""
        folder = osp.join(self.raw_dir, self.subdirs[0])
        return f"into '{folder}': " + ' | '.join(
            lay.describe() for lay in self.layouts)

    # Processing --------------------------------------------------------------

    def cache_info(self) -> Dict[str, Any]:
        found = self.found
        info = super().cache_info()
        info['layout'] = found.layout.name
        info['files'] = {
            role: [osp.relpath(path, self.raw_dir), content_hash(path)]
            for role, path in sorted(found.files.items())
        }
        return info

    def build(self) -> HeteroData:
        found = self.found
        return found.layout.build(found.files, self.options, self.label)

    # Downloading -------------------------------------------------------------

    def fetch(self, url: str, files: Sequence[str], subdir: str = '',
              unzip: bool = False, optional: bool = False) -> None:
        r"""Downloads :obj:`url` into ``raw_dir/<subdir>`` unless all of
        :obj:`files` are there (``.gz`` versions count); with :obj:`unzip`,
        the archive's members named in :obj:`files` are extracted there and
        the archive is removed.  A failure warns for an :obj:`optional`
        file and raises :class:`DatasetDownloadError` otherwise."""
        dest = osp.join(self.raw_dir, subdir)
        if all(find_file(dest, [f]) for f in files):
            return
        try:
            os.makedirs(dest, exist_ok=True)
            path = download_url(url, dest, log=self.log)
            if unzip:
                self._unzip(path, dest, files)
        except Exception as e:
            if optional:
                warnings.warn(f'{self.label}: could not download optional '
                              f'file from {url} ({e})', stacklevel=2)
                return
            raise DatasetDownloadError(
                f'{self.label}: could not download {url} ('
                f'{type(e).__name__}: {e}). Without network access, put the '
                f'raw files in place yourself: {self.expected_files()} '
                "('.gz' versions accepted), or pass raw_dir='<folder "
                "holding them>'.") from e
        finally:
            self._found = None

    def _unzip(self, path: str, dest: str, wanted: Sequence[str]) -> None:
        tmp = osp.join(dest, '_extract')
        extract_zip(path, tmp, log=self.log)
        os.remove(path)
        for folder, _, names in os.walk(tmp):
            for name in names:
                target = osp.join(dest, name)
                if name in wanted and not osp.exists(target):
                    shutil.move(osp.join(folder, name), target)
        shutil.rmtree(tmp, ignore_errors=True)
