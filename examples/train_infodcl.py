r"""Trains InfoDCL (or a baseline under the same protocol) and reports test
metrics at the epoch chosen on validation.

Defaults are the authors' Office settings. Examples::

    python examples/train_infodcl.py                      # synthetic data
    python examples/train_infodcl.py --dataset office --raw-dir ../shared/data/office
    python examples/train_infodcl.py --dataset office --no-psnet   # ablation
    python examples/train_infodcl.py --model lightgcn --dataset office
    python examples/train_infodcl.py --config runs/office/config.yaml --output runs/again
    python examples/train_infodcl.py --output runs/office --resume [--epochs N]
    torchrun --nproc_per_node=2 examples/train_infodcl.py --threads 1 ...

Under torchrun every process trains on its share of each global batch
(--batch-size must be a multiple of the process count), DDP averages the
gradients, and rank 0 alone writes OUTPUT; --resume needs the same process
count as the run it continues.

Every flag is also a key of a configuration file (YAML or JSON, one flat
mapping: the long flag with '-' replaced by '_', typed values); flags given
on the command line override the file. Each run writes the configuration it
used to OUTPUT/config.yaml; --resume reads it (only --epochs, --progress,
--root, --raw-dir and --format may change on resume).

Expected failures print one 'error: ...' line and exit with status 2
(--debug also prints the traceback).
"""
import argparse
import io
import os.path as osp
import sys
import traceback
import warnings
from typing import Any, Dict, Mapping, Optional

# The package first: it sets OpenMP's waiting default before torch loads
# (torch_geometric_infodcl/openmp.py; README, "Runs side by side").
import torch_geometric_infodcl  # noqa: F401

import torch
import torch.distributed

from torch_geometric_infodcl import distributed
from torch_geometric_infodcl.checkpoint import CheckpointError
from torch_geometric_infodcl.config import (
    TrainConfig,
    parse_text,
)
from torch_geometric_infodcl.datasets import DatasetDownloadError
from torch_geometric_infodcl.experiment import (
    build_experiment,
    load_data,
    run_identity,
)
from torch_geometric_infodcl.metrics import full_rank_metrics
from torch_geometric_infodcl.options import (
    LEGACY_OPTIONS,
    ConfigError,
    Option,
    format_config,
    option_table,
    read_config_file,
    resolve,
    split_config,
)
from torch_geometric_infodcl.profile import peak_rss_mb
from torch_geometric_infodcl.run_folder import (
    CONFIG_FILE,
    CURVES_FILE,
    RESULTS_FILE,
    RunFolder,
    RunFolderBusyError,
)
from torch_geometric_infodcl.train import Trainer
from torch_geometric_infodcl.typing import EDGE_TYPE

GROUPS = ('data', 'model', 'training', 'run')
# Failures of input, files or training that print one line, not a traceback.
EXPECTED_ERRORS = (ConfigError, CheckpointError, ValueError, OSError,
                   FloatingPointError, RunFolderBusyError,
                   DatasetDownloadError, distributed.DistributedError,
                   torch.distributed.DistError)


def _type(option: Option):
    def parse(text: str) -> Any:
        try:
            return parse_text(option.spec, text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = option.spec.kind
    return parse


def _help(option: Option, num_models: int) -> str:
    if option.models is None:
        shown = f"default: {option.defaults['*']}" + ''.join(
            f'; {model}: {value}' for model, value in option.defaults.items()
            if model != '*')
    else:
        defaults = {model: option.default(model) for model in option.models}
        if len(set(map(repr, defaults.values()))) == 1:
            shown = f'default: {next(iter(defaults.values()))}'
        else:
            shown = 'default: ' + ', '.join(
                f'{value} ({model})' for model, value in defaults.items())
        if len(option.models) < num_models:
            shown += f"; only {', '.join(option.models)}"
    return f'{option.help} ({shown})'.strip().replace('%', '%%')


def _legacy_help(option: Option, value: Any) -> str:
    if value is None:
        return f'= {option.flag}'
    if isinstance(value, bool):
        return f"= {option.flag if value else '--no-' + option.flag[2:]}"
    return f'= {option.flag} {value}'


def build_parser(table: Mapping[str, Option]) -> argparse.ArgumentParser:
    r"""Returns the parser of every option of :obj:`table` (generated: the
    type, choices, default and help of a flag come from its option) plus
    the switches kept from earlier versions and the invocation flags."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS)
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    num_models = len(table['model'].spec.choices)
    flags = set()
    for option in table.values():
        group = groups[option.group]
        kwargs = dict(dest=option.name, help=_help(option, num_models))
        if option.spec.kind == 'bool':
            action = group.add_argument(
                option.flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif option.spec.kind == 'str' and option.spec.choices:
            action = group.add_argument(
                option.flag, choices=option.spec.choices, **kwargs)
        else:
            action = group.add_argument(option.flag, type=_type(option),
                                        metavar=option.name.upper(), **kwargs)
        flags.update(action.option_strings)
    for legacy, (name, value) in LEGACY_OPTIONS.items():
        flag = '--' + legacy.replace('_', '-')
        if name not in table or flag in flags:
            continue  # Generated already (e.g. --no-progress).
        option = table[name]
        kwargs = dict(dest=name, help=_legacy_help(option, value))
        if value is None:
            groups[option.group].add_argument(
                flag, type=_type(option), metavar=name.upper(), **kwargs)
        else:
            groups[option.group].add_argument(
                flag, action='store_const', const=value, **kwargs)
    group = groups['run']
    group.add_argument('--config', default=None, metavar='FILE',
                       help='read options from a YAML or JSON file (flags '
                       'given here override it)')
    group.add_argument('--output', default=None,
                       help='folder for results.json, metrics.jsonl, '
                       'checkpoint.pt, config.yaml and curves.png')
    group.add_argument('--resume', action='store_true', default=False,
                       help='continue the run in OUTPUT (its config.yaml is '
                       'the base configuration)')
    group.add_argument('--debug', action='store_true', default=False,
                       help='print the traceback of an error')
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    r"""Parses the command line into the resolved configuration: every
    option of the chosen model as an attribute (also as the dict
    :obj:`settings`), plus :obj:`output`, :obj:`resume`, :obj:`config` and
    :obj:`debug`."""
    table = option_table()
    parser = build_parser(table)
    args = parser.parse_args(argv)
    if args.resume and args.output is None:
        parser.error('--resume needs --output (the folder of the checkpoint)')
    layers = []
    if args.config is not None:
        layers.append((args.config, read_config_file(args.config)))
    elif args.resume and osp.isfile(osp.join(args.output, CONFIG_FILE)):
        path = osp.join(args.output, CONFIG_FILE)
        layers.append((path, read_config_file(path)))
    flags = {name: value for name, value in vars(args).items()
             if name in table}
    settings = resolve(layers, flags)
    return argparse.Namespace(**settings, settings=settings,
                              output=args.output, resume=args.resume,
                              config=args.config, debug=args.debug)


def reference_protocol_hook(data):
    r"""The authors' protocol on test at every evaluation (train items masked
    only, batch-averaged), stored beside the history and never used for
    selection."""
    store = data[EDGE_TYPE]

    def on_evaluate(epoch, user_emb, item_emb):
        return {'reference_test': full_rank_metrics(
            user_emb, item_emb, store.test_edge_index,
            exclude_edge_index=store.edge_index, ks=(20, ),
            batch_size=2000, protocol='reference')}

    return on_evaluate


def print_table(result: dict):
    keys = [k for k in result['test'] if '@' in k]
    print(f"\n{'metric':<14}{'valid':>10}{'test':>10}")
    for key in keys:
        print(f"{key:<14}{result['valid'].get(key, float('nan')):>10.4f}"
              f"{result['test'][key]:>10.4f}")
    print(f"best epoch {result['best_epoch']}, median epoch "
          f"{result['epoch_seconds_median']:.2f} s")


def render_curves(result: dict) -> Optional[bytes]:
    r"""Returns a PNG of the loss terms and the validation Recall@20 /
    NDCG@20, or :obj:`None` without matplotlib."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed; no curves.png written "
                      "(pip install 'torch_geometric_infodcl[plot]')")
        return None
    losses = result['epoch_losses']
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = list(range(1, len(losses) + 1))
    for name in losses[0] if losses else []:
        values = [row[name] for row in losses]
        if any(v > 0 for v in values):
            ax1.plot(epochs, values, label=name)
    ax1.set_yscale('log')
    ax1.set_xlabel('epoch')
    ax1.set_title('training loss terms (unweighted, epoch means)')
    if ax1.get_lines():  # A closed-form model (ease) has no loss curve.
        ax1.legend()
    evals = result['history']
    xs = [row['epoch'] for row in evals]
    for key in ('recall@20', 'ndcg@20'):
        if key in evals[0]['valid']:
            ax2.plot(xs, [row['valid'][key] for row in evals], marker='o',
                     label=f'valid {key}')
    ax2.axvline(result['best_epoch'], color='grey', linestyle='--',
                label='best epoch')
    ax2.set_xlabel('epoch')
    ax2.set_title('validation')
    ax2.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def reference_summary(history) -> Optional[Dict[str, Any]]:
    reference = [dict(epoch=row['epoch'], **row['extra']['reference_test'])
                 for row in history if 'extra' in row]
    if not reference:
        return None
    return dict(
        note="authors' protocol: best TEST epoch, validation items "
        'unmasked, batch-averaged; optimistic, for comparison only',
        best=max(reference, key=lambda row: row['recall@20']))


def run(args: argparse.Namespace, folder: Optional[RunFolder]) -> dict:
    r"""Loads the data, builds the model, trains it and writes the run's
    files into :obj:`folder` (held by the caller)."""
    settings = args.settings
    with distributed.main_first():  # Rank 0 builds the dataset cache.
        data, raw_dir = load_data(args.dataset, args.root, args.raw_dir,
                                  args.format)
    model, info = build_experiment(settings, data, raw_dir)
    config = TrainConfig(**split_config(settings)['training'],
                         output_dir=args.output, resume=args.resume)
    on_evaluate = (reference_protocol_hook(data)
                   if args.reference_protocol else None)
    trainer = Trainer(model, data, config,
                      run_info=run_identity(settings, info),
                      on_evaluate=on_evaluate, run_folder=folder)
    trainer.prepare()  # Refuses a checkpoint of another run first.
    if folder is not None:
        folder.write(CONFIG_FILE, format_config(settings))
    result = trainer.fit()
    result = dict(dataset=args.dataset, model=args.model, **result,
                  metadata_seconds=info['metadata_seconds'],
                  metadata_base_used=info['metadata_base'],
                  peak_rss_mb=peak_rss_mb(),
                  config=dict(settings, output=args.output))
    if getattr(model, 'closed_form', False):
        # The candidate chosen on validation (e.g. EASE's L2 weight).
        result['selected'] = model.selected()
    reference = reference_summary(result['history'])
    if reference is not None:
        result['reference_protocol'] = reference
    if distributed.world()[0] != 0:
        return result  # Rank 0 reports.

    print_table(result)
    if 'selected' in result:
        print(f"chosen on validation: {result['selected']}")
    if reference is not None:
        best = reference['best']
        print(f"authors' protocol (best test epoch {best['epoch']}): "
              f"recall@20 {best['recall@20']:.4f}, "
              f"ndcg@20 {best['ndcg@20']:.4f}")
    if folder is not None:
        folder.write_json(RESULTS_FILE, result)
        png = render_curves(result)
        if png is not None:
            folder.write(CURVES_FILE, png)
        print(f'wrote {folder.file(RESULTS_FILE)}')
    return result


def main(argv=None) -> dict:
    r"""Runs the command line :obj:`argv` and returns the results."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    # The device is checked before a process group is started on it.
    device = TrainConfig(device=args.device).resolve_device()
    with distributed.launch(device) as (rank, _):
        if args.output is None or rank != 0:
            return run(args, None)
        with RunFolder(args.output).acquire(args.resume) as folder:
            return run(args, folder)


def error_message(error: BaseException) -> str:
    r"""Returns one line naming the cause of an expected failure (and the
    file, for errors of the operating system)."""
    if isinstance(error, OSError) and error.filename is not None:
        text = f"{error.strerror or error}: '{error.filename}'"
        if error.filename2 is not None:
            text += f" -> '{error.filename2}'"
    else:
        text = str(error) or type(error).__name__
    return ' '.join(text.split())


def console_main(argv=None) -> int:
    r"""The command-line entry point: returns the exit status (0, or 2 after
    printing one :obj:`error: ...` line for an expected failure)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        main(argv)
    except KeyboardInterrupt:
        print('error: interrupted (continue a run with --output ... '
              '--resume)', file=sys.stderr)
        return 130
    except EXPECTED_ERRORS as error:
        if '--debug' in argv:
            traceback.print_exc()
        rank, world_size = distributed.world_of_environment()
        where = f'[rank {rank}] ' if world_size > 1 else ''
        print(f'error: {where}{error_message(error)}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(console_main())
