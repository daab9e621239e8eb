r"""Trains InfoDCL (or a baseline under the same protocol) and reports test
metrics at the epoch chosen on validation.

Defaults are the authors' Office settings. Examples::

    python examples/train_infodcl.py                      # synthetic data
    python examples/train_infodcl.py --dataset office --raw-dir ../shared/data/office
    python examples/train_infodcl.py --dataset office --no-psnet   # ablation
    python examples/train_infodcl.py --model lightgcn --dataset office
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
import warnings

import torch

from torch_geometric_infodcl.datasets import FORMATS
from torch_geometric_infodcl.experiment import (
    METADATA_CHANNELS,
    MODELS,
    build_metadata,
    build_model,
    load_data,
    resolve_base,
)
from torch_geometric_infodcl.metrics import full_rank_metrics
from torch_geometric_infodcl.profile import peak_rss_mb
from torch_geometric_infodcl.train import Trainer, TrainConfig
from torch_geometric_infodcl.typing import EDGE_TYPE


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got '
                                         f'{text}')
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f'expected a float >= 0, got {text}')
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'expected a float > 0, got {text}')
    return value


def negatives_arg(text: str):
    if text in ('full', 'in_batch'):
        return text
    try:
        return positive_int(text)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(
            f"expected 'full', 'in_batch' or a positive number of sampled "
            f"negatives, got {text}") from None


def channels_arg(text: str):
    channels = [c for c in text.split(',') if c] if text != 'none' else []
    unknown = [c for c in channels if c not in METADATA_CHANNELS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown metadata channel(s) {unknown}; valid: "
            f"{', '.join(METADATA_CHANNELS)} or 'none'")
    return channels


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    g = p.add_argument_group('data')
    g.add_argument('--dataset', default='synthetic',
                   help='synthetic (default), office, ml-1m, ml-1m-diffrec, '
                   'baby, gowalla, taobao, electronics, or a folder of files')
    g.add_argument('--root', default='data', help='dataset cache root')
    g.add_argument('--raw-dir', default=None,
                   help='read raw files from here (e.g. ../shared/data/office)')
    g.add_argument('--format', default='auto', choices=('auto', ) + FORMATS,
                   help='file format of a folder (or of the text splits of '
                   'office, gowalla, ml-1m); auto = detected from the files')
    g.add_argument('--metadata', type=channels_arg,
                   default=['social', 'knowledge'],
                   help='comma-separated metadata channels (social, '
                   'knowledge, feature) or none')
    g.add_argument('--metadata-base', default='auto',
                   choices=['auto', 'pretrained', 'svd', 'lightgcn'],
                   help='base embeddings of the metadata: auto = shipped '
                   'pretrained *_pt.npy when present, else svd')
    g.add_argument('--top-k', type=positive_int, default=20,
                   help='item-item neighbours of the knowledge channel')

    g = p.add_argument_group('model')
    g.add_argument('--model', default='infodcl', choices=MODELS)
    g.add_argument('--dim', type=positive_int, default=64)
    g.add_argument('--steps', type=positive_int, default=200,
                   help='diffusion steps T')
    g.add_argument('--schedule', default='exp',
                   choices=['exp', 'linear', 'cosine', 'sqrt'])
    g.add_argument('--denoiser', default='mlp1', choices=['mlp1', 'mlp2'])
    g.add_argument('--layers', type=int, default=2,
                   help='propagation layers at inference')
    g.add_argument('--rec-weight', type=non_negative_float, default=0.4)
    g.add_argument('--bpr-weight', type=non_negative_float, default=0.6)
    g.add_argument('--reg-weight', type=non_negative_float, default=0.003)
    g.add_argument('--balance-weight', type=non_negative_float, default=5e-5)
    g.add_argument('--cl-weight', type=non_negative_float, default=5e-6)
    g.add_argument('--tau', type=positive_float, default=0.5)
    g.add_argument('--negatives', type=negatives_arg, default='full',
                   help="InfoNCE candidates: full, in_batch or a number")
    g.add_argument('--balance', default='norm',
                   choices=['norm', 'ratio', 'none'])
    g.add_argument('--train-layers', type=int, default=0,
                   help='extension: LightGCN layers inside the training '
                   'losses (0 = the paper: no graph in training)')
    g.add_argument('--baseline-reg', type=non_negative_float, default=1e-4,
                   help='L2 weight of the mf / lightgcn baselines')

    g = p.add_argument_group('ablations (InfoDCL)')
    g.add_argument('--no-psnet', action='store_true',
                   help='Gaussian noise instead of PSNet')
    g.add_argument('--no-balance', action='store_true',
                   help='drop the collaboration balance loss')
    g.add_argument('--no-contrastive', action='store_true',
                   help='drop the InfoNCE terms')
    g.add_argument('--no-propagation', action='store_true',
                   help='no LightGCN propagation at inference')
    g.add_argument('--authors-loss', action='store_true',
                   help="count channel 1's InfoNCE twice, as the authors' "
                   'code does')

    g = p.add_argument_group('training')
    g.add_argument('--epochs', type=positive_int, default=1000)
    g.add_argument('--batch-size', type=positive_int, default=2000)
    g.add_argument('--lr', type=positive_float, default=0.005)
    g.add_argument('--eval-every', type=positive_int, default=10)
    g.add_argument('--patience', type=positive_int, default=5,
                   help='evaluations without improvement before stopping')
    g.add_argument('--seed', type=int, default=2024)
    g.add_argument('--device', default='auto',
                   help="'auto' (CUDA when available), 'cpu', 'cuda', ...")
    g.add_argument('--bf16', action='store_true',
                   help='bfloat16 autocast for the training step')
    g.add_argument('--threads', type=positive_int, default=None,
                   help='torch CPU threads (default: torch decides)')
    g.add_argument('--reference-protocol', action='store_true',
                   help="also report the authors' protocol on test (best test "
                   'epoch, batch-averaged; for comparison only)')
    g.add_argument('--no-progress', action='store_true')
    g.add_argument('--output', default=None,
                   help='folder for results.json, metrics.jsonl, '
                   'checkpoint.pt and curves.png')
    g.add_argument('--resume', action='store_true',
                   help='continue from OUTPUT/checkpoint.pt')
    args = p.parse_args(argv)
    if args.layers < 0 or args.train_layers < 0:
        p.error(f'--layers and --train-layers must be >= 0 (got '
                f'{args.layers}, {args.train_layers})')
    if args.resume and args.output is None:
        p.error('--resume needs --output (the folder of the checkpoint)')
    if args.resume and not osp.isfile(osp.join(args.output,
                                               'checkpoint.pt')):
        p.error(f"--resume: no checkpoint at "
                f"'{osp.join(args.output, 'checkpoint.pt')}'")
    return args


def model_kwargs(args: argparse.Namespace) -> dict:
    if args.model == 'infodcl':
        return dict(
            dim=args.dim, num_steps=args.steps, schedule=args.schedule,
            denoiser=args.denoiser, num_layers=args.layers,
            rec_weight=args.rec_weight, bpr_weight=args.bpr_weight,
            reg_weight=args.reg_weight, balance_weight=args.balance_weight,
            cl_weight=args.cl_weight, tau=args.tau, negatives=args.negatives,
            balance='none' if args.no_balance else args.balance,
            noise='gaussian' if args.no_psnet else 'psnet',
            contrastive=not args.no_contrastive,
            propagate=not args.no_propagation,
            duplicate_first_contrastive=args.authors_loss,
            train_layers=args.train_layers)
    return dict(dim=args.dim, num_layers=args.layers,
                reg_weight=args.baseline_reg)


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


def save_curves(result: dict, path: str):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed; no curves.png written "
                      "(pip install 'torch_geometric_infodcl[plot]')")
        return
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
    ax1.legend()
    evals = result['history']
    xs = [row['epoch'] for row in evals]
    for key in ('recall@20', 'ndcg@20'):
        ax2.plot(xs, [row['valid'][key] for row in evals], marker='o',
                 label=f'valid {key}')
    ax2.axvline(result['best_epoch'], color='grey', linestyle='--',
                label='best epoch')
    ax2.set_xlabel('epoch')
    ax2.set_title('validation')
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data, raw_dir = load_data(args.dataset, args.root, args.raw_dir,
                              args.format)
    metadata = None
    t0 = time.perf_counter()
    if args.model == 'infodcl' and args.metadata:
        base = resolve_base(args.metadata_base, raw_dir)
        metadata = build_metadata(data, args.metadata, base, args.dim,
                                  top_k=args.top_k, seed=args.seed)
    metadata_seconds = time.perf_counter() - t0

    # The model is built under the run's seed so that its initialisation is
    # reproducible too.
    from torch_geometric import seed_everything
    seed_everything(args.seed)
    model = build_model(args.model, data, metadata, **model_kwargs(args))

    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        eval_every=args.eval_every, patience=args.patience, seed=args.seed,
        device=args.device, bf16=args.bf16, progress=not args.no_progress,
        output_dir=args.output, resume=args.resume)
    run_info = dict(dataset=args.dataset, model=args.model,
                    metadata=args.metadata,
                    metadata_base=args.metadata_base,
                    model_kwargs={k: str(v) for k, v in
                                  model_kwargs(args).items()})
    on_evaluate = (reference_protocol_hook(data)
                   if args.reference_protocol else None)
    trainer = Trainer(model, data, config, run_info=run_info,
                      on_evaluate=on_evaluate)
    result = trainer.fit()
    result = dict(dataset=args.dataset, model=args.model, **result,
                  metadata_seconds=metadata_seconds,
                  peak_rss_mb=peak_rss_mb(), config=dict(vars(args)))
    reference = [dict(epoch=row['epoch'], **row['extra']['reference_test'])
                 for row in result['history'] if 'extra' in row]
    if reference:
        best = max(reference, key=lambda row: row['recall@20'])
        result['reference_protocol'] = dict(
            note="authors' protocol: best TEST epoch, validation items "
            'unmasked, batch-averaged; optimistic, for comparison only',
            best=best)

    print_table(result)
    if reference:
        print(f"authors' protocol (best test epoch {best['epoch']}): "
              f"recall@20 {best['recall@20']:.4f}, "
              f"ndcg@20 {best['ndcg@20']:.4f}")
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        with open(osp.join(args.output, 'results.json'), 'w') as f:
            json.dump(result, f, indent=2, default=str)
        save_curves(result, osp.join(args.output, 'curves.png'))
        print(f'wrote {args.output}/results.json')
    return result


if __name__ == '__main__':
    try:
        main()
    except (ValueError, FileNotFoundError, FloatingPointError) as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
