r"""Tuned configurations carried unchanged to another dataset.

Tuning every model on every dataset costs more CPU time than this project
has for Baby (an epoch of a SimGCL-style model there is 4-8 s on one core),
so ``benchmarks/bench_final.py`` compares the models on Baby with the
configuration each one was given by the *same* Office study budget
(``benchmarks/configs/office/<model>.yaml``): every model gets the same
zero tuning trials on the target dataset, and only the dataset and its raw
folder change. It also answers the question a user with data of their own
asks: does a configuration tuned elsewhere hold up?

Writes ``benchmarks/transfer/<target>/<model>.yaml``, runnable as::

    python benchmarks/transfer.py --source office --target baby \
        --raw-dir ../shared/data/baby
    python benchmarks/bench_final.py --config-dir benchmarks/transfer \
        --out benchmarks/results/transfer --dataset baby --threads 1
"""
import argparse
import os.path as osp
from typing import List, Optional

from bench_final import CONFIG_DIR, configs as read_configs, default_models
from common import REPO_ROOT, repo_relative, write_text
from torch_geometric_infodcl.options import format_config, read_config_file

TRANSFER_DIR = osp.join(REPO_ROOT, 'benchmarks', 'transfer')


def first_line(path: str) -> str:
    with open(path) as f:
        return f.readline().lstrip('# ').rstrip()


def transfer_text(path: str, source: str, target: str,
                  raw_dir: Optional[str]) -> str:
    r"""The configuration of :obj:`path` with its dataset replaced."""
    config = read_config_file(path)
    config['dataset'] = target
    config['raw_dir'] = raw_dir
    name = osp.basename(path)
    header = (
        f"# {source} configuration applied unchanged to {target}: not "
        f"tuned on {target}.\n"
        f"# Source: benchmarks/configs/{source}/{name} ("
        f"{first_line(path)})\n"
        f"# Written by benchmarks/transfer.py; run from the repository "
        f"root:\n"
        f"#   python examples/train_infodcl.py --config "
        f"benchmarks/transfer/{target}/{name} --output <folder>\n")
    return header + format_config(config)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--source', default='office')
    p.add_argument('--target', required=True)
    p.add_argument('--raw-dir', default=None,
                   help='raw folder of the target dataset')
    p.add_argument('--models', default=None,
                   help='comma-separated configuration names (default: the '
                   'tuned ones, not the hand-picked *-default nor the '
                   'recommended copy infodcl)')
    p.add_argument('--config-dir', default=CONFIG_DIR)
    p.add_argument('--out', default=TRANSFER_DIR)
    args = p.parse_args(argv)

    try:
        configs = read_configs(args.config_dir, args.source)
    except FileNotFoundError as e:
        p.error(str(e))
    # Not the recommended copy (infodcl.yaml) nor the hand-picked defaults.
    models = (args.models.split(',') if args.models else
              [name for name in default_models(configs)
               if not name.endswith('-default')])
    unknown = [m for m in models if m not in configs]
    if unknown:
        p.error(f"no tuned {args.source} configuration for "
                f"{', '.join(unknown)} (have: {', '.join(configs)})")
    raw_dir = repo_relative(args.raw_dir) if args.raw_dir else None
    for model in models:
        out = osp.join(args.out, args.target, f'{model}.yaml')
        write_text(out, transfer_text(configs[model], args.source,
                                      args.target, raw_dir))
        print(f'wrote {repo_relative(out)}')


if __name__ == '__main__':
    main()
