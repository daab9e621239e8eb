from typing import Any, ClassVar, Dict

from torch_geometric_infodcl.datasets.base import (
    COMMON_OPTIONS,
    LOG_OPTIONS,
    SPLIT_OPTIONS,
    FileDataset,
)
from torch_geometric_infodcl.datasets.layouts import (
    JSON,
    amazon_ratings,
    amazon_reviews,
)

#: McAuley's Amazon 2014 5-core review files, by category.
AMAZON_URL = ('http://snap.stanford.edu/data/amazon/productGraph/'
              'categoryFiles/reviews_{}_5.json.gz')


class AmazonBaby(FileDataset):
    r"""Amazon Baby 5-core in the split of `"Mining Latent Structures for
    Multimedia Recommendation" <https://arxiv.org/abs/2104.09036>`_
    (LATTICE): ``{train,val,test}.json`` (``{"user": [items]}``) with
    ``user2id.json`` / ``item2id.json`` declaring the node counts.  Without
    them, the raw ``reviews_Baby_5.json(.gz)`` or ``ratings_Baby.csv`` go
    through the preprocessing pipeline (the review file is what
    :meth:`download` fetches).

    **STATS** (LATTICE split):

    .. list-table::
        :widths: 10 10 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #train
          - #val
          - #test
        * - 19,445
          - 7,050
          - 119,674
          - 20,559
          - 20,559

    Args:
        root (str): Root directory; raw files default to ``root/baby/raw``.
        raw_dir (str, optional): Read raw files from here instead.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: The options of
            :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`,
            :data:`~torch_geometric_infodcl.datasets.base.SPLIT_OPTIONS`
            and (raw logs) :data:`~torch_geometric_infodcl.datasets.base.
            LOG_OPTIONS`.
    """
    name = 'baby'
    layouts = (JSON, amazon_reviews('Baby'), amazon_ratings('Baby'))
    subdirs = ('', '5-core')
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **SPLIT_OPTIONS, **LOG_OPTIONS
    }

    def download(self) -> None:
        self.fetch(AMAZON_URL.format('Baby'), ['reviews_Baby_5.json.gz'])


class AmazonElectronics(FileDataset):
    r"""Amazon Electronics from McAuley's `Amazon 2014 review data
    <https://cseweb.ucsd.edu/~jmcauley/datasets/amazon/links.html>`_:
    ``reviews_Electronics_5.json(.gz)`` (the 5-core reviews) or
    ``ratings_Electronics.csv``, through the preprocessing pipeline.

    **STATS** (of the 5-core review file, as published by its authors):

    .. list-table::
        :widths: 10 10 10
        :header-rows: 1

        * - #users
          - #items
          - #reviews
        * - 192,403
          - 63,001
          - 1,689,188

    Args:
        root (str): Root directory; raw files default to
            ``root/electronics/raw``.
        raw_dir (str, optional): Read raw files from here instead.
        transform, pre_transform, force_reload: See
            :class:`~torch_geometric.data.InMemoryDataset`.
        **options: The options of
            :data:`~torch_geometric_infodcl.datasets.base.COMMON_OPTIONS`
            and :data:`~torch_geometric_infodcl.datasets.base.LOG_OPTIONS`.
    """
    name = 'electronics'
    layouts = (amazon_reviews('Electronics'), amazon_ratings('Electronics'))
    options_defaults: ClassVar[Dict[str, Any]] = {
        **COMMON_OPTIONS, **LOG_OPTIONS
    }

    def download(self) -> None:
        self.fetch(AMAZON_URL.format('Electronics'),
                   ['reviews_Electronics_5.json.gz'])
