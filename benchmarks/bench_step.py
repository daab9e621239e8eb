r"""One training step on Office sizes, and where InfoDCL's step time goes.

One optimisation step (4,905 users, 2,420 items, batch 2,000 from the real
``office/train.txt`` with uniform negatives): ``zero_grad``, ``model.loss``
(optionally under ``torch.autocast('cpu', torch.bfloat16)``), ``backward``,
``Adam.step``, as :class:`Trainer` does it. InfoDCL has the authors' default
hyper-parameters and two 64-d metadata channels (the shipped Office social /
knowledge item embeddings); PyG LightGCN has 3 layers and the Office
training graph set with ``set_graph``; MF-BPR is the graph-free baseline.
The InfoDCL step is broken down into its two InfoNCE terms, its two PSNets
and its two denoisers, each timed forward + backward in isolation on the
step's shapes; ``rest`` is the step minus their sum (BPR, L2, embedding
gathers, balance loss, Adam; BPR + L2 and Adam are also timed alone). Every
figure is the median of ``runs`` timed calls after one untimed warm-up.

Writes ``benchmarks/results/step.json``: the header of :mod:`common` and
``training_step`` (the section of the former ``bench_speed.py``: ``steps``,
the ``ratio_*`` figures, ``infodcl_breakdown``,
``infodcl_rest_parts_in_isolation``, sizes and model reprs)::

    python benchmarks/bench_step.py [--data-root ../shared/data] \
        [--threads 2] [--quick]
"""
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

import common
from common import OFFICE_ITEMS, OFFICE_USERS
from torch_geometric_infodcl.data import NegativeSampler, TrainBatch
from torch_geometric_infodcl.models import MFBPR, InfoDCL, PyGLightGCN
from torch_geometric_infodcl.nn import bpr_loss, info_nce_loss, l2_reg_loss

NAME = 'step'
STUDY_KEYS = ('training_step', )
BATCH_SIZE, DIM = 2000, 64
LR = 0.005  # the authors' Adam learning rate
METADATA = {'social': 'item_social_emb.npy',
            'knowledge': 'item_knowledge_emb.npy'}
RUNS = {'full': 20, 'quick': 1}


def office_infodcl(metadata: Dict[str, Tensor]) -> InfoDCL:
    torch.manual_seed(0)
    return InfoDCL(OFFICE_USERS, OFFICE_ITEMS, dim=DIM, metadata=metadata)


def infodcl_breakdown(model: InfoDCL, batch: TrainBatch,
                      runs: int) -> Tuple[Dict[str, Dict], Dict[str, Dict]]:
    r"""Forward + backward of each InfoDCL piece alone, on the shapes of one
    training step (gradients reset before every call)."""
    pos = batch.pos_item
    item_table = model.item_emb.weight.detach().clone().requires_grad_()
    user_table = model.user_emb.weight.detach().clone().requires_grad_()
    view = torch.randn(BATCH_SIZE, DIM, requires_grad=True)
    eps = torch.randn(BATCH_SIZE, DIM, requires_grad=True)
    grad = torch.randn(BATCH_SIZE, DIM)
    leaves = (item_table, user_table, view, eps)

    def reset(module: Optional[torch.nn.Module] = None):
        for leaf in leaves:
            leaf.grad = None
        if module is not None:
            module.zero_grad(set_to_none=True)

    def info_nce():
        reset()
        info_nce_loss(view, item_table, pos, tau=model.tau,
                      negatives=model.negatives).backward()

    def psnet_fn(name: str):
        def run():
            reset(model.psnets[name])
            noise = torch.randn(BATCH_SIZE, DIM)
            model.psnets[name](noise, model.metadata(name)[pos]).backward(grad)
        return run

    def denoiser_fn(name: str):
        def run():
            reset(model.denoisers[name])
            x0_hat, rec = model.denoisers[name].p_losses(item_table[pos],
                                                         noise=eps)
            torch.autograd.backward([x0_hat, rec], [grad, torch.ones(())])
        return run

    def bpr_and_l2():
        reset()
        user, item = user_table[batch.user], item_table[pos]
        neg = item_table[batch.neg_item]
        loss = bpr_loss((user * item).sum(-1), (user * neg).sum(-1))
        loss = loss + l2_reg_loss(user, item, batch_size=BATCH_SIZE)
        loss.backward()

    model.train()
    parts, extra = {}, {}
    for name in model.channel_names:
        parts[f'info_nce[{name}]'] = common.summary(
            common.timed(info_nce, runs))
        parts[f'psnet[{name}]'] = common.summary(
            common.timed(psnet_fn(name), runs))
        parts[f'denoiser[{name}]'] = common.summary(
            common.timed(denoiser_fn(name), runs))
    extra['bpr_and_l2'] = common.summary(common.timed(bpr_and_l2, runs))

    # Adam alone, on gradients left by one real step.
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    optimizer.zero_grad(set_to_none=True)
    model.loss(batch)[0].backward()
    extra['adam_step'] = common.summary(common.timed(optimizer.step, runs))
    return parts, extra


def timed_model_steps(models: Dict[str, Tuple[torch.nn.Module, bool]],
                      batches: List[TrainBatch], runs: int) -> Dict[str, Dict]:
    return {
        name: common.timed_steps(
            common.make_train_step(model, batches, bf16=bf16, lr=LR), runs,
            name)
        for name, (model, bf16) in models.items()
    }


def bench_training_step(data_root: str, runs: int) -> Dict:
    edge_index = common.read_office(data_root)
    metadata = {name: common.read_office_embedding(data_root, file,
                                                   OFFICE_ITEMS)
                for name, file in METADATA.items()}
    sampler = NegativeSampler(edge_index, OFFICE_USERS, OFFICE_ITEMS)
    batches = common.full_batches(sampler, BATCH_SIZE, 20,
                                  torch.Generator().manual_seed(0))

    torch.manual_seed(0)
    lightgcn = PyGLightGCN(OFFICE_USERS, OFFICE_ITEMS, dim=DIM, num_layers=3)
    lightgcn.set_graph(edge_index)
    torch.manual_seed(0)
    mf = MFBPR(OFFICE_USERS, OFFICE_ITEMS, dim=DIM)
    steps = timed_model_steps({
        'infodcl_fp32': (office_infodcl(metadata), False),
        'infodcl_bf16_autocast': (office_infodcl(metadata), True),
        'pyg_lightgcn_fp32': (lightgcn, False),
        'mfbpr_fp32': (mf, False),
    }, batches, runs)

    model = office_infodcl(metadata)
    parts, extra = infodcl_breakdown(model, batches[0], runs)
    step = steps['infodcl_fp32']['median_seconds']
    bf16 = steps['infodcl_bf16_autocast']['median_seconds']
    lightgcn_step = steps['pyg_lightgcn_fp32']['median_seconds']
    rest = step - sum(p['median_seconds'] for p in parts.values())
    breakdown = dict(parts, rest=dict(median_seconds=rest,
                                      derived='infodcl_fp32 step minus the '
                                      'components above'))
    for part in breakdown.values():
        part['fraction_of_step'] = part['median_seconds'] / step
    return dict(
        dataset='office/train.txt', num_users=OFFICE_USERS,
        num_items=OFFICE_ITEMS, num_edges=int(edge_index.size(1)),
        batch_size=BATCH_SIZE, dim=DIM, metadata=list(METADATA),
        models=dict(infodcl=repr(model), lightgcn=repr(lightgcn),
                    mfbpr=repr(mf)),
        optimizer=f'Adam(lr={LR})', steps=steps,
        ratio_infodcl_over_lightgcn=step / lightgcn_step,
        ratio_infodcl_bf16_over_lightgcn=bf16 / lightgcn_step,
        ratio_infodcl_bf16_over_fp32=bf16 / step,
        infodcl_breakdown=breakdown, infodcl_rest_parts_in_isolation=extra)


def describe(report: Dict) -> None:
    section = report['training_step']
    print(f'one training step, Office sizes, B={BATCH_SIZE}, Adam: ' +
          ', '.join(f"{name} {common.ms(row['median_seconds'])}"
                    for name, row in section['steps'].items()))
    print(f"  InfoDCL/LightGCN {section['ratio_infodcl_over_lightgcn']:.2f} "
          f"(bf16: {section['ratio_infodcl_bf16_over_lightgcn']:.2f}); "
          f"bf16/fp32 {section['ratio_infodcl_bf16_over_fp32']:.2f}")
    print('  InfoDCL breakdown (fwd+bwd in isolation): ' + ', '.join(
        f"{name} {common.ms(part['median_seconds'])} "
        f"({part['fraction_of_step']:.0%})"
        for name, part in section['infodcl_breakdown'].items()))


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = common.parser(__doc__, NAME).parse_args(argv)
    runs = RUNS['quick' if args.quick else 'full']
    return common.run_report(
        __file__, argv, args, NAME,
        dict(runs=runs, batch_size=BATCH_SIZE, dim=DIM),
        lambda: dict(training_step=bench_training_step(args.data_root, runs)),
        describe)


if __name__ == '__main__':
    main()
