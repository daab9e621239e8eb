r"""Fuses a finished run of :obj:`examples/train_infodcl.py` with EASE: the
run's best-epoch scores plus a weight times EASE's item-item scores, each
scaled by its root mean square, the weight chosen on validation (0, the run
alone, is always a candidate) and test scored once at that weight
(:class:`~torch_geometric_infodcl.models.EASEFusion`). EASE is fitted on the
run's training graph with the L2 weight given (choose it on validation with
``--model ease --l2-weight A,B,...`` first). Examples::

    python examples/fuse_ease.py --run runs/ml1m --l2-weight 770 \
        --output runs/ml1m-ease
    python examples/fuse_ease.py --run runs/office --l2-weight 182 \
        --weights 0 0.125 0.25 0.5 --output runs/office-ease

The output folder holds :obj:`results.json` (with :obj:`selected`: the
weights, and the run's own :obj:`base_valid` / :obj:`base_test` metrics),
:obj:`metrics.jsonl` (one line per candidate weight) and
:obj:`checkpoint.pt`.
"""
import argparse
from typing import Any, Dict

import torch

from torch_geometric_infodcl.experiment import (
    add_run_arguments,
    fuse_with_ease,
    load_run,
    script_main,
)
from torch_geometric_infodcl.models.fusion import FUSION_GRID
from torch_geometric_infodcl.run_folder import RESULTS_FILE, RunFolder


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(p)
    p.add_argument('--output', required=True,
                   help='a new folder for the fused run')
    p.add_argument('--l2-weight', type=float, default=500.0,
                   help="EASE's L2 weight (default: 500)")
    p.add_argument('--weights', type=float, nargs='+', default=FUSION_GRID,
                   help='candidate fusion weights (default: 0 and 1/64 to 8 '
                        'in factors of two)')
    p.add_argument('--resume', action='store_true',
                   help='continue the fused run of --output')
    return p.parse_args(argv)


def main(argv=None) -> Dict[str, Any]:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    run = load_run(args.run, args.root, args.raw_dir)
    with RunFolder(args.output).acquire(args.resume) as folder:
        result = fuse_with_ease(run, args.l2_weight, args.weights, folder,
                                args.resume)
        result['base_run'] = args.run
        folder.write_json(RESULTS_FILE, result)
    chosen = result['selected']
    print(f"{run.config['model']} + EASE (L2 weight {chosen['l2_weight']:g})"
          f": fusion weight {chosen['weight']:g} chosen on validation")
    print(f"\n{'recall@20 / ndcg@20':<22}{'run alone':>20}{'fused':>20}")
    for split, base in (('valid', result['base_valid']),
                        ('test', result['base_test'])):
        fused = result[split]
        print(f"{split:<22}{base['recall@20']:>10.4f}{base['ndcg@20']:>10.4f}"
              f"{fused['recall@20']:>10.4f}{fused['ndcg@20']:>10.4f}")
    print(f'wrote {folder.file(RESULTS_FILE)}')
    return result


if __name__ == '__main__':
    script_main(main)
