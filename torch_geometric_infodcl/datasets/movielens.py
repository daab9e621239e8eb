import os.path as osp
from typing import Any, ClassVar, Dict, Optional, Tuple

from torch_geometric_infodcl.datasets.base import (
    COMMON_OPTIONS,
    LOG_OPTIONS,
    SPLIT_OPTIONS,
    DatasetDownloadError,
    FileDataset,
    Found,
)
from torch_geometric_infodcl.datasets.layouts import (
    MOVIELENS,
    NPY,
    TEXT,
    movielens_side_files,
)

ML1M_ZIP_URL = 'https://files.grouplens.org/datasets/movielens/ml-1m.zip'


class MovieLens1M(FileDataset):
    r"""The full MovieLens-1M dataset in the 80/20 split of
    `"MulSetRank" <https://github.com/NoConst/MulSetRank>`_:
    ``full_mulsetrank/{train,test}.txt`` (LightGCN lines) and GroupLens'
    ``movies.dat`` / ``users.dat`` (in ``raw/``): item id = row of
    ``movies.dat`` (3,883 items, of which 3,706 are rated), 18 genres as
    ``data['item'].x``, gender / age / occupation one-hot as
    ``data['user'].x``.  The validation set is carved per user from train
    (``val_ratio``, ``seed``).

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #train + #val
          - #test
        * - 6,040
          - 3,883
          - 794,784
          - 205,425

    Args:
        root (str): Root directory; raw files default to
            ``root/ml-1m/raw``.
        raw_dir (str, optional): Read raw files from here instead.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: ``format`` (``'lightgcn'`` by default) and the options
            of :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`
            and :data:`~torch_geometric_infodcl.datasets.base.SPLIT_OPTIONS`.
    """
    name = 'ml-1m'
    url = ('https://raw.githubusercontent.com/NoConst/MulSetRank/'
           '4016c6315257ea090fbc07adb1bea56348c488d0/data/ml-1m/')
    layouts = (TEXT, )
    subdirs = ('full_mulsetrank', '')
    formats: ClassVar[Tuple[str, ...]] = ('auto', 'pairs', 'lightgcn')
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **SPLIT_OPTIONS, 'format': 'lightgcn'
    }

    def locate(self) -> Optional[Found]:
        found = super().locate()
        if found is None:
            return None
        split_dir = osp.dirname(found.files['train'])
        side = movielens_side_files(
            tuple(osp.join(self.raw_dir, sub) for sub in ('raw', '', 'ml-1m'))
            + (osp.dirname(split_dir), ))
        return None if side is None else Found(found.layout,
                                               {**found.files, **side})

    def expected_files(self) -> str:
        return (f"{super().expected_files()}; into "
                f"'{osp.join(self.raw_dir, 'raw')}': movies.dat, users.dat "
                f'(from {ML1M_ZIP_URL})')

    def download(self) -> None:
        for name in ('train.txt', 'test.txt'):
            self.fetch(self.url + name, [name], 'full_mulsetrank')
        self.fetch(ML1M_ZIP_URL, ['movies.dat', 'users.dat'], 'raw',
                   unzip=True)


class MovieLens1MDiffRec(FileDataset):
    r"""MovieLens-1M as cleaned by `"Diffusion Recommender Model"
    <https://arxiv.org/abs/2304.04971>`_ (DiffRec):
    ``diffrec_clean/{train,valid,test}_list.npy`` (``[N, 2]`` arrays), with
    ``item_emb.npy`` as ``data['item'].pretrained_emb`` when present.

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #train
          - #val
          - #test
        * - 5,949
          - 2,810
          - 403,277
          - 110,722
          - 57,532

    Args:
        root (str): Root directory; raw files default to
            ``root/ml-1m-diffrec/raw``.
        raw_dir (str, optional): Read raw files from here instead.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: The options of
            :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`
            and :data:`~torch_geometric_infodcl.datasets.base.SPLIT_OPTIONS`.
    """
    name = 'ml-1m-diffrec'
    url = ('https://github.com/YiyanXu/DiffRec/tree/main/datasets '
           '(ml-1m_clean.rar)')
    layouts = (NPY, )
    subdirs = ('diffrec_clean', 'ml-1m_clean', '')
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **SPLIT_OPTIONS
    }

    def download(self) -> None:
        folder = osp.join(self.raw_dir, self.subdirs[0])
        raise DatasetDownloadError(
            f"{self.label}: raw files not found under '{self.raw_dir}'. "
            'DiffRec ships ML-1M as a RAR archive, which cannot be '
            f'extracted automatically: get it from {self.url}, extract it '
            'and put train_list.npy, valid_list.npy and test_list.npy '
            f"(optionally item_emb.npy) into '{folder}' ('.gz' versions "
            "accepted), or pass raw_dir='<folder holding them>'.")


class MovieLens1MRatings(FileDataset):
    r"""The raw MovieLens-1M ratings log (``ratings.dat``, the layout of
    PyG's :class:`~torch_geometric.datasets.MovieLens1M`, with
    ``movies.dat`` / ``users.dat`` features when present) through the
    preprocessing pipeline; by default every rating is an interaction and
    no k-core is applied, as in InfoDCL.

    **STATS** (of the log):

    .. list-table::
        :widths: 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #ratings
        * - 6,040
          - 3,706
          - 1,000,209

    Args:
        root (str): Root directory; raw files default to
            ``root/ml-1m-ratings/raw``.
        raw_dir (str, optional): Read raw files from here instead.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: The options of
            :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`
            and :data:`~torch_geometric_infodcl.datasets.base.LOG_OPTIONS`
            (``k_core`` defaults to ``0``).
    """
    name = 'ml-1m-ratings'
    layouts = (MOVIELENS, )
    subdirs = ('', 'raw', 'ml-1m')
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **LOG_OPTIONS, 'k_core': 0
    }

    def download(self) -> None:
        self.fetch(ML1M_ZIP_URL, ['ratings.dat', 'movies.dat', 'users.dat'],
                   'ml-1m', unzip=True)
