from typing import Any, ClassVar, Dict

from torch_geometric_infodcl.datasets.base import (
    COMMON_OPTIONS,
    LOG_OPTIONS,
    FileDataset,
)
from torch_geometric_infodcl.datasets.layouts import TAOBAO

#: Options of the Taobao log: the behaviours kept (``'buy'``: purchases are
#: the positive feedback; page views are noisy and 50x larger; a list, or
#: :obj:`None` for all) and the time window ``(start, end)`` in Unix seconds
#: (PyG's 9 days, 2017-11-25 .. 2017-12-03; :obj:`None` keeps all).
TAOBAO_OPTIONS: Dict[str, Any] = {
    'behavior': 'buy',
    'time_window': (1511539200, 1512316799),
}


class Taobao(FileDataset):
    r"""The Taobao user-behaviour log of `"Learning Tree-based Deep Model
    for Recommender Systems" <https://arxiv.org/abs/1801.02294>`_
    (``UserBehavior.csv``: ``user,item,category,behavior,timestamp``, the
    raw file of PyG's :class:`~torch_geometric.datasets.Taobao`), filtered
    by behaviour and time and run through the preprocessing pipeline.

    **STATS** (of the log, all behaviours, as published by Alibaba):

    .. list-table::
        :widths: 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #rows
        * - 987,994
          - 4,162,024
          - 100,150,807

    Args:
        root (str): Root directory; raw files default to
            ``root/taobao/raw``.
        raw_dir (str, optional): Read raw files from here instead.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: :data:`TAOBAO_OPTIONS` and the options of
            :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`
            and :data:`~torch_geometric_infodcl.datasets.base.LOG_OPTIONS`.
    """
    name = 'taobao'
    layouts = (TAOBAO, )
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **LOG_OPTIONS, **TAOBAO_OPTIONS
    }

    def download(self) -> None:
        from torch_geometric.datasets import Taobao as PyGTaobao
        self.fetch(PyGTaobao.url, ['UserBehavior.csv'], unzip=True)
