import os
import os.path as osp
import warnings
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple

from torch_geometric.data import HeteroData

from torch_geometric_infodcl.datasets.base import (
    COMMON_OPTIONS,
    LOG_OPTIONS,
    SPLIT_OPTIONS,
    FileDataset,
    Found,
)
from torch_geometric_infodcl.datasets.layouts import FOLDER_LAYOUTS, FORMATS
from torch_geometric_infodcl.datasets.taobao import TAOBAO_OPTIONS
from torch_geometric_infodcl.datasets.text_format import FormatDetectionError


def _several_formats(folder: str,
                     found: List[Found]) -> FormatDetectionError:
    listing = '; '.join(
        f"{lay.name} ({', '.join(sorted(map(osp.basename, files.values())))}"
        ')' for lay, files in found)
    values = [f"format='{v}'" for lay, _ in found
              for v in lay.formats[1:] or lay.formats]
    return FormatDetectionError(
        f"folder '{folder}' holds files of several formats: {listing}; pass "
        f"{', '.join(values[:-1])} or {values[-1]} (command line: --format) "
        'to choose one')


class InteractionFolder(FileDataset):
    r"""Your own interaction files: a folder holding one of the layouts of
    :data:`~torch_geometric_infodcl.datasets.layouts.FOLDER_LAYOUTS` --
    pre-split ``train`` / ``test`` (and ``val``) files as JSON lists
    (``train.json``), DiffRec arrays (``train_list.npy``) or text
    (``train.txt``: ``user item`` pairs or LightGCN lines), or one raw log
    (``ratings.dat``, ``reviews_<Category>_5.json``,
    ``ratings_<Category>.csv``, ``UserBehavior.csv``) that goes through the
    preprocessing pipeline.  ``.gz`` versions of every file are accepted.

    The layout is detected, or chosen with the ``format`` option
    (``'auto'`` or one of :data:`~torch_geometric_infodcl.datasets.layouts.
    FORMATS`; on the command line ``--format``).  A folder holding two
    layouts is refused, naming them; text splits are read as pairs or
    LightGCN lines from evidence in the files (see
    :mod:`~torch_geometric_infodcl.datasets.text_format`); the choice is
    reported with a warning when the graph is built.  If the folder holds
    no layout itself, exactly one immediate sub-folder may.

    Args:
        root (str): Root directory; processed files go to
            ``root/folder/processed``.
        raw_dir (str): The folder to read.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: ``format`` (default ``'auto'``) and the options of
            :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`,
            :data:`~torch_geometric_infodcl.datasets.base.SPLIT_OPTIONS`
            (pre-split files), :data:`~torch_geometric_infodcl.datasets.
            base.LOG_OPTIONS` (raw logs) and
            :data:`~torch_geometric_infodcl.datasets.taobao.TAOBAO_OPTIONS`
            (``UserBehavior.csv``).
    """
    name = 'folder'
    layouts = FOLDER_LAYOUTS
    formats: ClassVar[Tuple[str, ...]] = ('auto', ) + FORMATS
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **SPLIT_OPTIONS, **LOG_OPTIONS, **TAOBAO_OPTIONS,
        'format': 'auto'
    }

    def __init__(self, root: str, raw_dir: str,
                 transform: Optional[Callable] = None,
                 pre_transform: Optional[Callable] = None,
                 force_reload: bool = False, **options: Any) -> None:
        if raw_dir is None:
            raise ValueError(
                "name='folder' needs raw_dir (the folder to read)")
        raw_dir = osp.expanduser(raw_dir)
        if not osp.isdir(raw_dir):
            raise FileNotFoundError(f"folder '{raw_dir}' does not exist")
        super().__init__(root, raw_dir, transform, pre_transform,
                         force_reload, **options)

    @property
    def label(self) -> str:
        return f"folder '{self.raw_dir}'"

    def _candidates(self, folder: str) -> List[Found]:
        r"""The layouts present in :obj:`folder` (restricted by the
        ``format`` option); refuses a folder holding two."""
        wanted = self.options['format']
        found = []
        for layout in self.layouts:
            if wanted != 'auto' and wanted not in layout.formats:
                continue
            files = layout.find(folder)
            if files is not None:
                found.append(Found(layout, files))
        if len(found) > 1:
            raise _several_formats(folder, found)
        return found

    def locate(self) -> Optional[Found]:
        found = self._candidates(self.raw_dir)
        if found:
            return found[0]
        children = [osp.join(self.raw_dir, name) for name in
                    sorted(os.listdir(self.raw_dir))
                    if osp.isdir(osp.join(self.raw_dir, name))]
        inside = [(child, c[0]) for child in children
                  for c in [self._candidates(child)] if c]
        if len(inside) > 1:
            raise ValueError(
                f"folder '{self.raw_dir}' holds several datasets: " +
                ', '.join(f"'{osp.relpath(child, self.raw_dir)}' "
                          f'({f.layout.name})' for child, f in inside) +
                '; pass one of them as raw_dir')
        return inside[0][1] if inside else None

    def expected_files(self) -> str:
        return 'one of: ' + ' | '.join(lay.describe()
                                       for lay in self.layouts)

    def build(self) -> HeteroData:
        found = self.found
        if self.options['format'] == 'auto' and \
                not found.layout.reports_choice:
            warnings.warn(
                f'{self.label}: reading the {found.layout.name} files ' +
                ', '.join(sorted(osp.relpath(p, self.raw_dir)
                                 for p in found.files.values())) +
                '; pass format=... (command line: --format) to choose',
                stacklevel=2)
        return super().build()
