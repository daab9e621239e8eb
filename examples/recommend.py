r"""Prints a user's top-K items from a finished run of
:obj:`examples/train_infodcl.py`, next to the items the user interacted
with, with titles where the dataset has them (ML-1M :obj:`movies.dat`).

The run's :obj:`config.yaml` rebuilds the dataset and the model; the weights
are the checkpoint's best validation state (the state its test metrics were
reported at). Items of the user's training and validation interactions are
never recommended; recommended items that are among the user's held-out test
items are marked with :obj:`*`. Examples::

    python examples/recommend.py --run runs/ml1m-mf --user 42
    python examples/recommend.py --run runs/office --user 7 --k 20 \
        --raw-dir ../shared/data/office
"""
import argparse
import os.path as osp
from typing import Any, Dict, List, Optional

import torch

from torch_geometric_infodcl.datasets.logs import read_movielens_movies
from torch_geometric_infodcl.experiment import (
    add_run_arguments,
    load_run,
    script_main,
)
from torch_geometric_infodcl.typing import EDGE_TYPE

TITLE_FILES = ('movies.dat', osp.join('raw', 'movies.dat'),
               osp.join('ml-1m', 'movies.dat'))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument('--user', type=int, required=True,
                   help='the user id (0-based, as in the dataset)')
    p.add_argument('--k', type=int, default=10,
                   help='number of recommendations (default: 10)')
    p.add_argument('--show', type=int, default=10,
                   help='interacted items to print (default: 10)')
    args = p.parse_args(argv)
    if args.k <= 0 or args.show < 0:
        p.error(f'--k must be positive and --show >= 0 (got {args.k}, '
                f'{args.show})')
    return args


def item_titles(data, raw_dir: Optional[str]) -> Optional[List[str]]:
    r"""Returns the title of every item when the dataset has a MovieLens
    :obj:`movies.dat` (item id = row of the file, or the item's
    :obj:`raw_id` = MovieID), else :obj:`None`."""
    if raw_dir is None:
        return None
    path = next((osp.join(raw_dir, name) for name in TITLE_FILES
                 if osp.isfile(osp.join(raw_dir, name))), None)
    if path is None:
        return None
    movie_ids, titles, _ = read_movielens_movies(path)
    num_items = data['item'].num_nodes
    raw_id = getattr(data['item'], 'raw_id', None)
    if raw_id is not None:
        row = {int(m): r for r, m in enumerate(movie_ids)}
        return [titles[row[int(m)]] if int(m) in row else f'MovieID {int(m)}'
                for m in raw_id.tolist()]
    if len(titles) != num_items:
        return None  # Not the file the item ids index.
    return titles


def top_k_items(user_emb: torch.Tensor, item_emb: torch.Tensor, user: int,
                exclude: torch.Tensor, k: int) -> torch.Tensor:
    r"""Returns the :obj:`k` best-scored items of :obj:`user` (inner
    product), never one of :obj:`exclude`, with their scores."""
    scores = item_emb @ user_emb[user]
    scores[exclude] = float('-inf')
    k = min(k, int(torch.isfinite(scores).sum()))
    return scores.topk(k)


def recommend(args: argparse.Namespace) -> Dict[str, Any]:
    r"""Loads the run and returns the user's items and recommendations."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    config, data, raw_dir, model, state = load_run(args.run, args.root,
                                                   args.raw_dir)
    store = data[EDGE_TYPE]
    num_users = data['user'].num_nodes
    if not 0 <= args.user < num_users:
        raise ValueError(f"--user must be in [0, {num_users}) for "
                         f"{config['dataset']} (got {args.user})")
    with torch.no_grad():
        user_emb, item_emb = model.embeddings(store.edge_index)

    def items_of(edge_index: torch.Tensor) -> torch.Tensor:
        return edge_index[1, edge_index[0] == args.user]

    seen = items_of(store.edge_index)
    held_out = items_of(store.val_edge_index)
    test = items_of(store.test_edge_index)
    scores, items = top_k_items(user_emb, item_emb, args.user,
                                torch.cat([seen, held_out]), args.k)
    return dict(config=config, best_epoch=state['best_epoch'],
                titles=item_titles(data, raw_dir), seen=seen.tolist(),
                validation=held_out.tolist(), test=test.tolist(),
                recommended=items.tolist(), scores=scores.tolist())


def print_recommendations(out: Dict[str, Any], user: int, show: int) -> None:
    titles = out['titles']

    def name(item: int) -> str:
        return titles[item] if titles is not None else f'item {item}'

    config = out['config']
    print(f"{config['model']} on {config['dataset']} (best validation epoch "
          f"{out['best_epoch']}), user {user}\n")
    seen = out['seen']
    print(f"interacted with (training): {len(seen)} items"
          f"{f', first {show} shown' if len(seen) > show else ''}")
    for item in seen[:show]:
        print(f'  {item:>6}  {name(item)}')
    print(f"held out: {len(out['validation'])} validation, "
          f"{len(out['test'])} test items\n")
    print(f"top {len(out['recommended'])} (training and validation items "
          f"excluded; * = a held-out test item of the user):")
    test = set(out['test'])
    for rank, (item, score) in enumerate(
            zip(out['recommended'], out['scores']), start=1):
        mark = '*' if item in test else ' '
        print(f'  {rank:>3}. {mark} {item:>6}  {name(item)}  '
              f'(score {score:.3f})')
    hits = sum(item in test for item in out['recommended'])
    print(f"\n{hits} of the {len(out['recommended'])} are test items of the "
          f"user")


def main(argv=None) -> Dict[str, Any]:
    args = parse_args(argv)
    out = recommend(args)
    print_recommendations(out, args.user, args.show)
    return out


if __name__ == '__main__':
    script_main(main)
