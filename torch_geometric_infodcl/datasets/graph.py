r"""The one place where interactions become the
:class:`~torch_geometric.data.HeteroData` graph every dataset returns:

* ``data['user'].num_nodes``, ``data['item'].num_nodes``;
* ``data['user', 'interacts', 'item'].edge_index`` -- training
  interactions, ``int64 [2, E_train]`` (row 0 user ids, row 1 item ids);
* ``.val_edge_index`` / ``.test_edge_index`` -- validation / test
  interactions, same layout;

every split sorted by user, then item, free of duplicates.  Side
information (``data[kind].x``, ``data[kind].pretrained_emb``,
``data[kind].raw_id``) is attached with :func:`attach`.

:func:`split_graph` serves pre-split files (``train`` / ``val`` / ``test``
arrays), :func:`log_graph` raw logs (through
:func:`~torch_geometric_infodcl.datasets.preprocess.preprocess_interactions`).
"""
import warnings
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from torch_geometric_infodcl.datasets.preprocess import (
    PreprocessResult,
    carve_validation,
    clean_splits,
    preprocess_interactions,
)
from torch_geometric_infodcl.typing import EDGE_TYPE

__all__ = ['EDGE_TYPE', 'SPLITS', 'interaction_graph', 'split_graph',
           'log_graph', 'attach']

#: The split names of pre-split files, in order.
SPLITS = ('train', 'val', 'test')

_ATTRS = {'train': 'edge_index', 'val': 'val_edge_index',
          'test': 'test_edge_index'}


def _to_tensor(pairs: np.ndarray) -> Tensor:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return torch.from_numpy(np.ascontiguousarray(pairs.T))


def interaction_graph(splits: Mapping[str, np.ndarray], num_users: int,
                      num_items: int) -> HeteroData:
    r"""Builds the graph from cleaned ``[N, 2]`` splits (see
    :func:`~torch_geometric_infodcl.datasets.preprocess.clean_splits`)."""
    data = HeteroData()
    data['user'].num_nodes = num_users
    data['item'].num_nodes = num_items
    store = data[EDGE_TYPE]
    for split, attr in _ATTRS.items():
        store[attr] = _to_tensor(splits[split])
    return data


def attach(data: HeteroData, kind: str, attr: str,
           value: Optional[np.ndarray], path: str, source: str) -> None:
    r"""Stores a per-node matrix ``[num_nodes, d]`` read from :obj:`path` as
    ``data[kind][attr]`` (as ``float``), refusing a row count that does not
    match."""
    if value is None:
        return
    n = data[kind].num_nodes
    if value.ndim != 2 or value.shape[0] != n:
        raise ValueError(
            f"{source}: {kind} {attr} from '{path}' has shape "
            f"{list(value.shape)}, but there are {n} {kind}s (expected "
            f"[{n}, d])")
    data[kind][attr] = torch.from_numpy(np.ascontiguousarray(value)).to(
        torch.float)


def _node_counts(splits: Mapping[str, np.ndarray],
                 declared: Mapping[str, Optional[int]],
                 options: Mapping[str, Any]) -> Dict[str, Optional[int]]:
    r"""Counts given by the options, else by side files; :obj:`None` where
    only the ids themselves can tell."""
    return {kind: options[f'num_{kind}s'] if options[f'num_{kind}s']
            is not None else declared.get(kind)
            for kind in ('user', 'item')}


def _warn_one_based(splits: Mapping[str, np.ndarray],
                    inferred: Tuple[str, ...], files: Mapping[str, str],
                    source: str) -> None:
    r"""Warns when no id 0 occurs for users or items whose count comes from
    the largest id: a 1-based file read as 0-based would add a phantom
    user / item 0 without interactions."""
    rows = [s for s in splits.values() if s.size]
    if not rows:
        return
    pairs = np.concatenate(rows)
    missing = [kind for col, kind in enumerate(('user', 'item'))
               if kind in inferred and int(pairs[:, col].min()) > 0]
    if missing:
        names = ', '.join(f"'{files[s]}'" for s in SPLITS if s in files)
        warnings.warn(
            f"{source}: no {' and no '.join(missing)} has id 0 in "
            f"{names or 'the splits'}, so the ids look 1-based; read as "
            f"0-based (one_based=False), {' and '.join(missing)} 0 "
            f"{'are nodes' if len(missing) > 1 else 'is a node'} without "
            f'any interaction. Pass one_based=True if the ids start at 1',
            stacklevel=4)


def split_graph(splits: Dict[str, np.ndarray], options: Mapping[str, Any],
                source: str, files: Optional[Mapping[str, str]] = None,
                declared: Optional[Mapping[str, Optional[int]]] = None
                ) -> HeteroData:
    r"""The graph of pre-split interactions.

    Args:
        splits (dict): ``train`` and ``test`` (and ``val``) ``[N, 2]``
            arrays; without ``val``, a validation set is carved out of
            train per user (:obj:`options['val_ratio']`,
            :obj:`options['seed']`).
        options (dict): The dataset options (``num_users``, ``num_items``,
            ``on_overlap``, ``one_based``, ``val_ratio``, ``seed``).
        source (str): The dataset, for messages.
        files (dict, optional): Split name -> file, for messages.
        declared (dict, optional): ``'user'`` / ``'item'`` -> count given
            by side files (id maps, ML-1M ``movies.dat`` / ``users.dat``).
            Without either a declared count or an option, a count is the
            largest id + 1.
    """
    files = files or {}
    if 'val' not in splits:
        splits['train'], splits['val'] = carve_validation(
            splits['train'], options['val_ratio'], options['seed'])
    counts = _node_counts(splits, declared or {}, options)
    inferred = tuple(k for k, n in counts.items() if n is None)
    if not options['one_based']:
        _warn_one_based(splits, inferred, files, source)
    num = {}
    for col, kind in enumerate(('user', 'item')):
        num[kind] = int(counts[kind]) if counts[kind] is not None else 1 + max(
            (int(s[:, col].max()) for s in splits.values() if s.size),
            default=-1)
    splits = clean_splits(splits, num['user'], num['item'],
                          options['on_overlap'], source=source,
                          files={s: files[s] for s in SPLITS if s in files})
    return interaction_graph(splits, num['user'], num['item'])


def log_graph(log: Mapping[str, np.ndarray], options: Mapping[str, Any],
              source: str) -> Tuple[HeteroData, PreprocessResult]:
    r"""The graph of a raw log (``user``, ``item`` and optional ``rating``
    / ``timestamp`` arrays) after the preprocessing pipeline; integer
    original ids are kept as ``data[kind].raw_id``.

    Returns:
        The graph and the pipeline's result (original ids, statistics).
    """
    res = preprocess_interactions(
        log['user'], log['item'], log.get('rating'), log.get('timestamp'),
        implicit_threshold=options['implicit_threshold'],
        k_core=options['k_core'], split=options['split'],
        val_ratio=options['val_ratio'], test_ratio=options['test_ratio'],
        seed=options['seed'])
    if res.num_users == 0:
        raise ValueError(
            f'{source}: no interaction is left after preprocessing '
            f'({res.stats}); lower implicit_threshold / k_core or check the '
            f'behaviour / time filters')
    num = {}
    for kind, n in (('user', res.num_users), ('item', res.num_items)):
        asked = options[f'num_{kind}s']
        num[kind] = n if asked is None else int(asked)
        if num[kind] < n:
            raise ValueError(
                f'{source}: num_{kind}s={num[kind]} is smaller than the {n} '
                f'{kind}s left after preprocessing')
    splits = clean_splits({'train': res.train, 'val': res.val,
                           'test': res.test}, num['user'], num['item'],
                          options['on_overlap'], source=source)
    data = interaction_graph(splits, num['user'], num['item'])
    for kind, ids in (('user', res.user_ids), ('item', res.item_ids)):
        if ids.dtype.kind in 'iu' and num[kind] == ids.shape[0]:
            data[kind].raw_id = torch.from_numpy(ids.astype(np.int64))
    return data, res
