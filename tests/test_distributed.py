r"""Data-parallel training and sharded evaluation with 2 gloo processes
spawned inside pytest (a few seconds each; deselect with
:obj:`-m "not distributed"`)."""
import importlib.util
import json
import os
import os.path as osp
import signal
import socket

import pytest
import torch
import torch.multiprocessing as mp
from run_helpers import comparable

from torch_geometric_infodcl import distributed
from torch_geometric_infodcl.config import TrainConfig
from torch_geometric_infodcl.data.sampling import NegativeSampler
from torch_geometric_infodcl.datasets.synthetic import generate_synthetic
from torch_geometric_infodcl.metrics import full_rank_metrics
from torch_geometric_infodcl.models import InfoDCL, PyGLightGCN
from torch_geometric_infodcl.train import Trainer
from torch_geometric_infodcl.typing import EDGE_TYPE
from torch_geometric_infodcl.utils.shards import shard_range

SCRIPT = osp.join(osp.dirname(__file__), '..', 'examples', 'train_infodcl.py')
WORLD = 2


# Spawning ####################################################################


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _entry(rank, port, fn, args):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    fn(rank, *args)


def spawn(fn, *args):
    r"""Runs :obj:`fn(rank, *args)` in :obj:`WORLD` fresh processes with the
    environment torchrun would give them."""
    mp.spawn(_entry, args=(_free_port(), fn, args), nprocs=WORLD, join=True)


def load_cli():
    spec = importlib.util.spec_from_file_location('train_infodcl', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Splits (no processes) #######################################################


@pytest.mark.parametrize('n,world_size', [(10, 2), (7, 3), (2, 4), (0, 2)])
def test_shard_range_covers_every_row_once(n, world_size):
    parts = [shard_range(n, r, world_size) for r in range(world_size)]
    rows = [i for start, end in parts for i in range(start, end)]
    assert rows == list(range(n))  # disjoint, contiguous, no padding
    sizes = [end - start for start, end in parts]
    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match='rank 2 is outside'):
        shard_range(n, 2, 2)


def test_epoch_shards_form_the_single_process_batches():
    edge_index = torch.tensor([[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5],
                               [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4]])
    sampler = NegativeSampler(edge_index, 6, 7)

    def batches(rank, world_size):
        generator = torch.Generator().manual_seed(3)
        return list(sampler.epoch_batches(4, generator, rank, world_size))

    single = batches(0, 1)
    shards = [batches(r, 2) for r in range(2)]
    # 11 triples, batch 4: 4 + 4 + 3, the last cut to 2 for 2 processes.
    assert [b.user.numel() for b in single] == [4, 4, 3]
    assert [b.user.numel() for b in shards[0]] == [2, 2, 1]
    assert sampler.num_batches(4, 2) == 3 and sampler.num_batches(4) == 3
    for step, whole in enumerate(single):
        size = shards[0][step].user.numel() * 2
        for field in range(3):
            joined = torch.cat([shards[0][step][field],
                                shards[1][step][field]])
            assert torch.equal(joined, whole[field][:size])
    with pytest.raises(ValueError, match='batch size 5 is not divisible by '
                       'the world size 2'):
        next(sampler.epoch_batches(5, None, 0, 2))


# Sharded evaluation ##########################################################


def _eval_cases():
    torch.manual_seed(0)
    cases = []
    for num_users, num_items, num_targets in [(9, 30, 25), (1, 20, 3),
                                              (40, 50, 200)]:
        user = torch.randn(num_users, 8)
        item = torch.randn(num_items, 8).round()  # ties by id
        keys = torch.randperm(num_users * num_items)
        target = keys[:num_targets]
        exclude = keys[num_targets:num_targets + 2 * num_targets]
        to_edges = lambda k: torch.stack([k // num_items,  # noqa: E731
                                          k % num_items])
        cases.append((user, item, to_edges(target), to_edges(exclude)))
    return cases


@pytest.mark.distributed
def test_sharded_evaluation_equals_single_process(two_process_results):
    for sharded, (user, item, target, exclude) in zip(
            two_process_results['metrics'], _eval_cases()):
        single = full_rank_metrics(user, item, target, exclude,
                                   ks=(1, 5, 20), batch_size=4)
        assert sharded['num_users'] == single['num_users']
        for key, value in single.items():
            assert sharded[key] == pytest.approx(value, abs=1e-12), key


# One DDP step equals one single-process step #################################


class FixedNoiseInfoDCL(InfoDCL):
    r"""InfoDCL whose views use a fixed noise and diffusion step per item
    instead of draws from the RNG and PSNet's batch-wide SVD, so that its
    loss is a sum (InfoNCE, the authors' form) plus means of per-triple terms
    and one global batch can be compared with its shards."""
    def generate_views(self, pos_item, item_table=None):
        item = (self.item_emb.weight if item_table is None else
                item_table)[pos_item]
        noise_table = torch.randn(self.num_items, self.dim,
                                  generator=torch.Generator().manual_seed(1))
        views, rec = [], item.new_zeros(())
        for name in self.channel_names:
            denoiser = self.denoisers[name]
            view, rec_k = denoiser.p_losses(item, noise=noise_table[pos_item],
                                            t=pos_item % denoiser.num_steps)
            views.append(view)
            rec = rec + rec_k
        return views, rec


def _step_data():
    data = generate_synthetic(num_users=40, num_items=30, avg_degree=6,
                              seed=1)
    store = data[EDGE_TYPE]
    store.edge_index = store.edge_index[:, :2 * (store.edge_index.size(1) //
                                                 2)]
    return data


def _step_model(kind, cl_weight=0.05):
    torch.manual_seed(0)
    if kind == 'lightgcn':
        # PyG's L2 term is over the batch's distinct nodes, so a node in
        # both halves would count twice under DDP: left out here.
        return PyGLightGCN(40, 30, dim=8, num_layers=2, reg_weight=0.0)
    return FixedNoiseInfoDCL(40, 30, dim=8, num_steps=10, cl_weight=cl_weight,
                             metadata={'social': torch.randn(30, 4)})


def _step_config(data):
    # One step: the global batch is the whole training set.
    return TrainConfig(epochs=1, batch_size=data[EDGE_TYPE].edge_index.size(1),
                       lr=0.01, progress=False, ks=(5, ), monitor='recall@5')


def _worker(rank, out):
    r"""One spawn for the sharded evaluations and the DDP steps."""
    results = {}
    with distributed.launch(torch.device('cpu')):
        results['metrics'] = [distributed.sharded_full_rank_metrics(
            user, item, target, exclude, ks=(1, 5, 20), batch_size=4)
                              for user, item, target, exclude in _eval_cases()]
        for kind in ('lightgcn', 'infodcl'):
            data = _step_data()
            # InfoDCL's InfoNCE sums over the batch while DDP averages the
            # two half-batches' gradients: the model rescales it itself
            # (same weight as the one-process step).
            model = _step_model(kind)
            Trainer(model, data, _step_config(data)).fit()
            results[kind] = _params_and_grads(model)
    if rank == 0:
        torch.save(results, out)


def _params_and_grads(model):
    # The step leaves its (all-reduced) gradients on the parameters.
    return {name: (p.detach().clone(), p.grad.clone())
            for name, p in model.named_parameters() if p.grad is not None}


@pytest.fixture(scope='module')
def two_process_results(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('ddp') / 'results.pt')
    spawn(_worker, out)
    return torch.load(out)


@pytest.mark.distributed
@pytest.mark.parametrize('kind', ['lightgcn', 'infodcl'])
def test_one_ddp_step_equals_one_single_process_step(kind,
                                                     two_process_results):
    data = _step_data()
    single = _step_model(kind)
    before = {k: v.clone() for k, v in single.named_parameters()}
    Trainer(single, data, _step_config(data)).fit()
    ddp = two_process_results[kind]
    expected = _params_and_grads(single)
    assert sorted(ddp) == sorted(expected)
    for name, (param, grad) in expected.items():
        # DDP's averaged gradient of the two halves is the whole batch's.
        torch.testing.assert_close(ddp[name][1], grad, atol=1e-8, rtol=1e-4)
        # Adam's first step is lr * g / (|g| + eps): where |g| is at the
        # level of rounding its sign (hence the step) is arbitrary.
        clear = grad.abs() > 1e-6
        torch.testing.assert_close(ddp[name][0][clear], param[clear],
                                   atol=1e-5, rtol=0)
        assert clear.float().mean() > 0.5 or grad.abs().max() == 0
    moved = [name for name, p in single.named_parameters()
             if not torch.equal(p, before[name])]
    assert any('emb' in name for name in moved)  # the tables moved
    if kind == 'infodcl':  # the denoiser was trained too
        assert any(name.startswith('denoisers') for name in moved)


# A killed run resumes to the uninterrupted results ###########################


def _cli_args(root, out, *extra):
    return ['--model', 'lightgcn', '--root', root, '--epochs', '3',
            '--eval-every', '1', '--batch-size', '4000', '--no-progress',
            '--threads', '1', '--output', out, *extra]


def _cli_worker(rank, args, kill_in_epoch):
    cli = load_cli()
    if kill_in_epoch is not None and rank == 1:
        train_epoch = Trainer._train_epoch

        def dying(self, epoch):
            if epoch == kill_in_epoch:
                os.kill(os.getpid(), signal.SIGKILL)
            return train_epoch(self, epoch)

        Trainer._train_epoch = dying
    cli.main(args)


def _comparable(path):
    with open(path) as f:
        return comparable(json.load(f))


@pytest.mark.distributed
def test_killed_run_resumes_to_the_uninterrupted_results(tmp_path):
    root = str(tmp_path / 'data')
    whole, broken = str(tmp_path / 'whole'), str(tmp_path / 'broken')
    spawn(_cli_worker, _cli_args(root, whole), None)

    with pytest.raises(Exception):  # rank 1 dies in epoch 3
        spawn(_cli_worker, _cli_args(root, broken), 3)
    assert not osp.exists(osp.join(broken, 'results.json'))
    saved = torch.load(osp.join(broken, 'checkpoint.pt'), weights_only=False)
    assert saved['epoch'] == 2 and saved['runtime']['world_size'] == WORLD

    # Another world size is refused, naming both counts.
    with pytest.raises(ValueError, match=r'written by a run of 2 process'
                       r'\(es\) and this run has 1'):
        load_cli().main(_cli_args(root, broken, '--resume'))

    spawn(_cli_worker, _cli_args(root, broken, '--resume'), None)
    assert _comparable(osp.join(broken, 'results.json')) == _comparable(
        osp.join(whole, 'results.json'))


def test_batch_not_divisible_by_world_size_is_refused(monkeypatch):
    monkeypatch.setattr(distributed, 'world', lambda: (0, 3))
    data = _step_data()
    with pytest.raises(ValueError, match='batch size 100 is not divisible '
                       'by the world size 3'):
        Trainer(_step_model('lightgcn'), data,
                TrainConfig(batch_size=100, progress=False))


def test_bad_torchrun_environment_is_named(monkeypatch):
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.delenv('MASTER_PORT', raising=False)
    with pytest.raises(distributed.DistributedError,
                       match='MASTER_PORT not: start the processes with '
                       'torchrun'):
        with distributed.launch(torch.device('cpu')):
            pass
    monkeypatch.setenv('WORLD_SIZE', 'two')
    with pytest.raises(distributed.DistributedError,
                       match='WORLD_SIZE must be an integer'):
        with distributed.launch(torch.device('cpu')):
            pass


def test_failed_process_group_start_is_named(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError('The client socket has timed out after 5s while\n'
                           'trying to connect to (127.0.0.1, 1).')

    for name, value in dict(WORLD_SIZE='2', RANK='1', LOCAL_RANK='1',
                            MASTER_ADDR='127.0.0.1', MASTER_PORT='1').items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.distributed, 'init_process_group', refuse)
    with pytest.raises(distributed.DistributedError,
                       match=r'cannot start torch.distributed \(gloo, rank 1 '
                       r'of 2, rendezvous 127.0.0.1:1\): The client socket '
                       r'has timed out after 5s while trying'):
        with distributed.launch(torch.device('cpu')):
            pass
