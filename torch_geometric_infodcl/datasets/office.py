from typing import Any, ClassVar, Dict, Tuple

from torch_geometric_infodcl.datasets.base import (
    COMMON_OPTIONS,
    SPLIT_OPTIONS,
    FileDataset,
)
from torch_geometric_infodcl.datasets.layouts import TEXT


class Office(FileDataset):
    r"""The Amazon-Office split of the `"InfoDCL: Informative Noise
    Enhanced Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ paper: ``train.txt``, ``valid.txt``
    and ``test.txt`` of ``user item`` pairs (0-based ids), with the authors'
    pre-trained embeddings ``uEmbeds_pt.npy`` / ``iEmbeds_pt.npy`` as
    ``data[kind].pretrained_emb`` when present.

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #train
          - #val
          - #test
        * - 4,905
          - 2,420
          - 40,877
          - 5,880
          - 6,501

    Args:
        root (str): Root directory; raw files default to
            ``root/office/raw``.
        raw_dir (str, optional): Read raw files from here instead.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: ``format`` (``'pairs'`` by default, ``'lightgcn'`` or
            ``'auto'``) and the options of
            :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`
            and :data:`~torch_geometric_infodcl.datasets.base.SPLIT_OPTIONS`.
    """
    name = 'office'
    url = ('https://raw.githubusercontent.com/Qin-lab-code/InfoDCL/'
           'c747e980aa7d4740b40cd81dd0717cbd14ae2c6c/data/office/')
    layouts = (TEXT, )
    formats: ClassVar[Tuple[str, ...]] = ('auto', 'pairs', 'lightgcn')
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **SPLIT_OPTIONS, 'format': 'pairs'
    }

    def download(self) -> None:
        for name in ('train.txt', 'valid.txt', 'test.txt'):
            self.fetch(self.url + name, [name])
        for name in ('uEmbeds_pt.npy', 'iEmbeds_pt.npy'):
            self.fetch(self.url + name, [name], optional=True)
