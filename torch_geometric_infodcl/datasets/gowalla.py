from typing import Any, ClassVar, Dict, Tuple

from torch_geometric_infodcl.datasets.base import (
    COMMON_OPTIONS,
    SPLIT_OPTIONS,
    FileDataset,
)
from torch_geometric_infodcl.datasets.layouts import TEXT


class Gowalla(FileDataset):
    r"""The Gowalla check-in split of the `"LightGCN: Simplifying and
    Powering Graph Convolution Network for Recommendation"
    <https://arxiv.org/abs/2002.02126>`_ paper: ``train.txt`` and
    ``test.txt`` of LightGCN lines (``user item item ...``), with
    ``user_list.txt`` / ``item_list.txt`` declaring the node counts when
    present.  The validation set is carved per user from train
    (``val_ratio``, ``seed``).

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #train + #val
          - #test
        * - 29,858
          - 40,981
          - 810,128
          - 217,242

    Args:
        root (str): Root directory; raw files default to
            ``root/gowalla/raw``.
        raw_dir (str, optional): Read raw files from here instead.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: ``format`` (``'lightgcn'`` by default, ``'pairs'`` or
            ``'auto'``) and the options of
            :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`
            and :data:`~torch_geometric_infodcl.datasets.base.SPLIT_OPTIONS`.
    """
    name = 'gowalla'
    url = ('https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/'
           'master/data/gowalla/')
    layouts = (TEXT, )
    formats: ClassVar[Tuple[str, ...]] = ('auto', 'pairs', 'lightgcn')
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **SPLIT_OPTIONS, 'format': 'lightgcn'
    }

    def download(self) -> None:
        for name in ('train.txt', 'test.txt'):
            self.fetch(self.url + name, [name])
        for name in ('user_list.txt', 'item_list.txt'):
            self.fetch(self.url + name, [name], optional=True)
