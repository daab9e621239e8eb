r"""Datasets by name: :data:`DATASETS` and the :class:`RecommenderDataset`
dispatcher.  Adding a source is one module with its class and one line in
:data:`DATASETS`."""
import os
import os.path as osp
from typing import Any, Callable, Dict, Optional, Tuple, Type

from torch_geometric.data import HeteroData

from torch_geometric_infodcl.datasets.amazon import (
    AmazonBaby,
    AmazonElectronics,
)
from torch_geometric_infodcl.datasets.base import (
    FileDataset,
    InteractionDataset,
)
from torch_geometric_infodcl.datasets.folder import InteractionFolder
from torch_geometric_infodcl.datasets.gowalla import Gowalla
from torch_geometric_infodcl.datasets.movielens import (
    MovieLens1M,
    MovieLens1MDiffRec,
    MovieLens1MRatings,
)
from torch_geometric_infodcl.datasets.office import Office
from torch_geometric_infodcl.datasets.synthetic import Synthetic
from torch_geometric_infodcl.datasets.taobao import Taobao

__all__ = ['DATASETS', 'DATASET_NAMES', 'RecommenderDataset', 'load_dataset']

#: Name -> dataset class.
DATASETS: Dict[str, Type[InteractionDataset]] = {
    cls.name: cls
    for cls in (
        Synthetic,
        Office,
        Gowalla,
        MovieLens1M,
        MovieLens1MDiffRec,
        AmazonBaby,
        AmazonElectronics,
        MovieLens1MRatings,
        Taobao,
        InteractionFolder,
    )
}

#: The dataset names :class:`RecommenderDataset` accepts (besides a path).
DATASET_NAMES: Tuple[str, ...] = tuple(DATASETS)


def _looks_like_path(name: str) -> bool:
    return osp.isdir(name) or os.sep in name or name.startswith('.')


class RecommenderDataset:
    r"""Opens a dataset by name: ``RecommenderDataset(root, 'office',
    raw_dir)`` is ``Office(root, raw_dir)``, and a folder path as
    :obj:`name` is ``InteractionFolder(root, raw_dir=path)``.  Returns the
    instance of the dataset's class (see :data:`DATASETS`).

    Args:
        root (str): Root directory; raw files default to
            ``root/<name>/raw``, processed files go to
            ``root/<name>/processed``.
        name (str): A dataset name (:data:`DATASET_NAMES`) or the path of a
            folder of your own files.
        raw_dir (str, optional): Read raw files from here instead of
            ``root/<name>/raw`` (nothing is copied).
        transform (callable, optional): Applied on every access.
        pre_transform (callable, optional): Applied before saving.
        force_reload (bool, optional): Re-process even if cached.
        **options: The dataset's options (see its class).

    Example::

        ds = RecommenderDataset('data', 'office', raw_dir='raw/office')
        data = ds[0]
        data['user', 'interacts', 'item'].edge_index  # [2, 40877]
    """
    def __new__(  # type: ignore[misc]
        cls,
        root: str,
        name: str,
        raw_dir: Optional[str] = None,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
        **options: Any,
    ) -> InteractionDataset:
        name = str(name)
        if name not in DATASETS:
            if not _looks_like_path(name):
                raise ValueError(
                    f"unknown dataset '{name}'; valid names: "
                    f"{', '.join(DATASET_NAMES)} (or the path of a folder "
                    f"holding a supported layout)")
            if raw_dir is not None:
                raise ValueError(f"pass either a folder as name or raw_dir, "
                                 f"not both (got name='{name}', "
                                 f"raw_dir='{raw_dir}')")
            raw_dir, name = name, InteractionFolder.name
        source = DATASETS[name]
        kwargs: Dict[str, Any] = dict(transform=transform,
                                      pre_transform=pre_transform,
                                      force_reload=force_reload, **options)
        if issubclass(source, FileDataset):
            return source(root, raw_dir, **kwargs)
        return source(root, **kwargs)


def load_dataset(name_or_folder: str, root: str, raw_dir: Optional[str] = None,
                 **options: Any) -> HeteroData:
    r"""Shortcut for ``RecommenderDataset(root, name_or_folder, raw_dir,
    **options)[0]``; :obj:`name_or_folder` is a dataset name
    (:data:`DATASET_NAMES`) or a folder path.  The ``transform`` /
    ``pre_transform`` / ``force_reload`` keywords are passed on."""
    return RecommenderDataset(root, name_or_folder, raw_dir=raw_dir,
                              **options)[0]
