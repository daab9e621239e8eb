import json
import math
import os
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import HeteroData

import torch_geometric_infodcl.train as train_module
from torch_geometric_infodcl.checkpoint import load_checkpoint
from torch_geometric_infodcl.metrics import full_rank_metrics
from torch_geometric_infodcl.run_folder import RunFolder, RunFolderBusyError
from torch_geometric_infodcl.train import SelectionState, TrainConfig, Trainer


def planted_data(num_users=60, num_items=120, num_clusters=4, seed=0):
    r"""Every user likes 12 random items of its own cluster: 8 train, 2
    validation, 2 test."""
    gen = torch.Generator().manual_seed(seed)
    size = num_items // num_clusters
    cluster = torch.arange(num_users) % num_clusters
    chosen = torch.rand(num_users, size, generator=gen).argsort(1)[:, :12]
    items = chosen + (cluster * size).view(-1, 1)
    user = torch.arange(num_users).view(-1, 1).expand_as(items)

    def edges(start, end):
        return torch.stack([user[:, start:end].reshape(-1),
                            items[:, start:end].reshape(-1)])

    data = HeteroData()
    data['user'].num_nodes = num_users
    data['item'].num_nodes = num_items
    store = data['user', 'interacts', 'item']
    store.edge_index = edges(0, 8)
    store.val_edge_index = edges(8, 10)
    store.test_edge_index = edges(10, 12)
    return data


class TinyMF(torch.nn.Module):
    r"""A minimal model of the protocol, with dropout so that resumption
    must restore the global torch RNG. :obj:`fail_at_step` injects a crash
    (:obj:`"crash"`) or a NaN term (:obj:`"nan"`) at a given step."""
    def __init__(self, num_users, num_items, dim=8, fail_at_step=None,
                 failure='crash'):
        super().__init__()
        self.user = torch.nn.Embedding(num_users, dim)
        self.item = torch.nn.Embedding(num_items, dim)
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)
        self.dropout = torch.nn.Dropout(0.1)
        self.fail_at_step = fail_at_step
        self.failure = failure
        self.steps = 0

    def loss(self, batch):
        self.steps += 1
        if self.steps == self.fail_at_step and self.failure == 'crash':
            raise RuntimeError('simulated crash')
        user = self.dropout(self.user(batch.user))
        pos, neg = self.item(batch.pos_item), self.item(batch.neg_item)
        bpr = F.softplus((user * neg).sum(-1) - (user * pos).sum(-1)).mean()
        if self.steps == self.fail_at_step and self.failure == 'nan':
            bpr = bpr * float('nan')
        reg = (user.pow(2).sum() + pos.pow(2).sum()) / user.size(0)
        return bpr + 1e-4 * reg, {'bpr': bpr, 'reg': reg}

    def embeddings(self, edge_index):
        return self.user.weight, self.item.weight


def make_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return TinyMF(60, 120, **kwargs)


def config(**kwargs):
    defaults = dict(epochs=12, batch_size=64, lr=0.05, eval_every=2,
                    patience=3, ks=(5, 20), progress=False, seed=1)
    defaults.update(kwargs)
    return TrainConfig(**defaults)


def comparable(result):
    r"""The result without wall-clock times and run ids."""
    history = [{k: v for k, v in r.items()
                if 'seconds' not in k and k != 'run_id'}
               for r in result['history']]
    return (result['best_epoch'], result['valid'], result['test'],
            result['epochs_run'], result['stopped_early'], history)


# TrainConfig #################################################################


def test_config_defaults():
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay) == (1000,
                                                                      2000,
                                                                      0.005,
                                                                      0.0)
    assert (cfg.eval_every, cfg.patience, cfg.monitor) == (10, 5,
                                                           'recall@20')
    assert cfg.ks == (10, 20, 50) and cfg.eval_batch_size == 2048
    assert (cfg.seed, cfg.device, cfg.bf16, cfg.progress) == (2024, 'cpu',
                                                              False, True)
    assert (cfg.output_dir, cfg.resume, cfg.max_grad_norm) == (None, False,
                                                               None)
    assert TrainConfig(ks=[5, 10], monitor='ndcg@5').ks == (5, 10)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(epochs=0), ValueError, r'epochs must be >= 1 \(got 0\)'),
    (dict(epochs=2.0), TypeError, 'epochs must be an int'),
    (dict(batch_size=True), TypeError, 'batch_size must be an int'),
    (dict(lr=0.0), ValueError, r'lr must be finite and > 0'),
    (dict(lr=float('nan')), ValueError, 'lr must be finite'),
    (dict(weight_decay=-1e-4), ValueError, 'weight_decay must be finite'),
    (dict(eval_every=0), ValueError, 'eval_every must be >= 1'),
    (dict(patience=0), ValueError, 'patience must be >= 1'),
    (dict(monitor='recall@15'), ValueError, "k in ks=.*'recall@15'"),
    (dict(monitor='auc@20'), ValueError, "name in .*'auc@20'"),
    (dict(monitor=20), TypeError, 'monitor must be a str'),
    (dict(ks=()), TypeError, 'ks must be a non-empty tuple'),
    (dict(ks=(10, 10, 20)), ValueError, 'ks has duplicates'),
    (dict(ks=(0, 20)), ValueError, 'ks must be >= 1'),
    (dict(eval_batch_size=-5), ValueError, 'eval_batch_size must be >= 1'),
    (dict(seed=-1), ValueError, 'seed must be >= 0'),
    (dict(seed=2**32), ValueError, 'seed must be < 2\\*\\*32'),
    (dict(device='tpu'), ValueError, "device 'tpu' is not a device name"),
    (dict(device='meta'), ValueError, "device must be 'cpu', 'cuda'"),
    (dict(bf16=1), TypeError, 'bf16 must be a bool'),
    (dict(progress='no'), TypeError, 'progress must be a bool'),
    (dict(output_dir=3), TypeError, 'output_dir must be a path'),
    (dict(resume=True), ValueError, 'resume=True needs an output_dir'),
    (dict(max_grad_norm=0.0), ValueError, 'max_grad_norm must be finite'),
])
def test_config_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        TrainConfig(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is available')
def test_cuda_request_without_cuda():
    with pytest.raises(ValueError, match='CUDA is not available'):
        Trainer(make_model(), planted_data(), config(device='cuda'))
    trainer = Trainer(make_model(), planted_data(), config(device='auto'))
    assert trainer.device == torch.device('cpu')


# Training, selection and the report ##########################################


def test_fit_learns_selects_on_validation_and_reports_test():
    data = planted_data()
    model = make_model()
    trainer = Trainer(model, data, config())
    result = trainer.fit()

    history = result['history']
    assert [r['epoch'] for r in history] == list(range(2, 13, 2))
    scores = [r['valid']['recall@20'] for r in history]
    # The best epoch is the first maximum of the validation monitor.
    assert result['best_epoch'] == history[scores.index(max(scores))]['epoch']
    assert result['valid'] == history[scores.index(max(scores))]['valid']
    # Planted clusters are learnt: far above the random level of 20/112.
    assert result['valid']['recall@20'] > 0.5
    assert set(result['test']) == {'num_users'} | {
        f'{m}@{k}'
        for m in ('recall', 'ndcg', 'precision', 'hit', 'mrr') for k in (5, 20)
    }

    # The test metrics are those of the returned (best) state, with train and
    # validation items masked.
    store = data['user', 'interacts', 'item']
    with torch.no_grad():
        expected = full_rank_metrics(
            *model.embeddings(store.edge_index), store.test_edge_index,
            exclude_edge_index=[store.edge_index, store.val_edge_index],
            ks=(5, 20))
    assert result['test'] == pytest.approx(expected)

    assert result['epochs_run'] == 12 and not result['stopped_early']
    seconds = result['epoch_seconds']
    assert len(seconds) == 12 and all(s > 0 for s in seconds)
    assert result['epoch_seconds_median'] == pytest.approx(
        sorted(seconds)[5:7][0] / 2 + sorted(seconds)[5:7][1] / 2)
    assert result['time_to_best_seconds'] == pytest.approx(
        sum(seconds[:result['best_epoch']]))
    assert set(history[0]['loss']) == {'total', 'bpr', 'reg'}
    assert history[-1]['loss']['bpr'] < history[0]['loss']['bpr']


def test_fit_is_deterministic_under_a_seed():
    data = planted_data()
    first = Trainer(make_model(), data, config()).fit()
    again = Trainer(make_model(), data, config()).fit()
    other = Trainer(make_model(), data, config(seed=2)).fit()
    assert comparable(first) == comparable(again)
    assert comparable(first) != comparable(other)


class FrozenScores(TinyMF):
    r"""Trains a table that never reaches the scores: the validation monitor
    cannot improve after the first evaluation."""
    def embeddings(self, edge_index):
        gen = torch.Generator().manual_seed(0)
        return (torch.randn(60, 8, generator=gen),
                torch.randn(120, 8, generator=gen))


def test_early_stopping_after_patience_evaluations():
    result = Trainer(FrozenScores(60, 120), planted_data(),
                     config(eval_every=1, patience=2, epochs=50)).fit()
    assert result['best_epoch'] == 1
    assert result['epochs_run'] == 3 and result['stopped_early']
    assert [r['best_epoch'] for r in result['history']] == [1, 1, 1]


def test_last_epoch_is_always_evaluated():
    result = Trainer(make_model(), planted_data(),
                     config(epochs=5, eval_every=2)).fit()
    assert [r['epoch'] for r in result['history']] == [2, 4, 5]


def test_bf16_autocast_and_gradient_clipping(monkeypatch):
    norms = []
    clip = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm):
        norms.append(max_norm)
        return clip(parameters, max_norm)

    monkeypatch.setattr(torch.nn.utils, 'clip_grad_norm_', spy)
    result = Trainer(make_model(), planted_data(),
                     config(epochs=2, bf16=True, max_grad_norm=0.5)).fit()
    assert norms == [0.5] * 16  # 2 epochs of ceil(480 / 64) steps.
    assert math.isfinite(result['valid']['recall@20'])


def test_progress_bar_shows_running_loss_means(monkeypatch):
    postfixes = []

    class RecordingBar(train_module.tqdm):
        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            postfixes.append(dict(ordered_dict))
            super().set_postfix(ordered_dict, refresh, **kwargs)

    monkeypatch.setattr(train_module, 'tqdm', RecordingBar)
    result = Trainer(make_model(), planted_data(),
                     config(epochs=1, eval_every=1, progress=True)).fit()
    assert len(postfixes) == 8  # ceil(480 / 64) steps.
    assert set(postfixes[-1]) == {'total', 'bpr', 'reg'}
    # The last postfix is the running mean over the whole epoch.
    means = result['history'][0]['loss']
    for name, shown in postfixes[-1].items():
        assert float(shown) == pytest.approx(means[name], rel=1e-3)

    postfixes.clear()
    Trainer(make_model(), planted_data(), config(epochs=1)).fit()
    assert postfixes == []  # progress=False: no bar work at all.


def test_set_graph_hook_receives_training_edges():
    class GraphModel(TinyMF):
        def set_graph(self, edge_index):
            self.graph = edge_index

    data = planted_data()
    model = GraphModel(60, 120)
    Trainer(model, data, config(epochs=1)).fit()
    train_edges = data['user', 'interacts', 'item'].edge_index
    assert torch.equal(model.graph, train_edges)


def test_non_finite_loss_names_term_and_epoch_and_keeps_checkpoint(tmp_path):
    # 8 steps per epoch: step 21 is in epoch 3, after the epoch-2 checkpoint.
    model = make_model(fail_at_step=21, failure='nan')
    trainer = Trainer(model, planted_data(),
                      config(output_dir=str(tmp_path)))
    with pytest.raises(FloatingPointError,
                       match=r'epoch 3: total = nan; non-finite term\(s\): bpr'
                       ):
        trainer.fit()
    assert load_checkpoint(str(tmp_path / 'checkpoint.pt'))['epoch'] == 2


def test_bad_model_and_data():
    data = planted_data()
    with pytest.raises(TypeError, match="has no 'loss' method"):
        Trainer(torch.nn.Linear(2, 2), data)
    with pytest.raises(TypeError, match="'config' must be a TrainConfig"):
        Trainer(make_model(), data, {'epochs': 3})
    with pytest.raises(TypeError, match="'data' must be a HeteroData"):
        Trainer(make_model(), data.to_homogeneous())
    with pytest.raises(TypeError, match='run_info.*JSON-serialisable'):
        Trainer(make_model(), data, config(), run_info={'x': object()})

    data['item'].num_nodes = 0
    with pytest.raises(ValueError, match=r"data\['item'\].num_nodes' must be"):
        Trainer(make_model(), data)
    data['item'].num_nodes = 120
    del data['user', 'interacts', 'item'].val_edge_index
    with pytest.raises(ValueError, match='no val_edge_index'):
        Trainer(make_model(), data)
    data = planted_data()
    data['user', 'interacts', 'item'].test_edge_index[1, 3] = 500
    with pytest.raises(ValueError,
                       match="'test_edge_index' column 3 has item id 500"):
        Trainer(make_model(), data)

    class NoTerms(TinyMF):
        def loss(self, batch):
            return super().loss(batch)[0], [1.0]

    with pytest.raises(TypeError, match='dict of named terms'):
        Trainer(NoTerms(60, 120), planted_data(), config()).fit()


# Output folder, checkpoints and resumption ###################################


def test_output_dir_logs_and_checkpoint(tmp_path):
    run_info = {'dataset': 'planted', 'model': {'dim': 8}}
    result = Trainer(make_model(), planted_data(), config(output_dir=str(
        tmp_path)), run_info=run_info).fit()
    assert sorted(os.listdir(tmp_path)) == ['checkpoint.pt', 'metrics.jsonl']

    lines = open(tmp_path / 'metrics.jsonl').read().splitlines()
    records = [json.loads(line) for line in lines]
    assert records == json.loads(json.dumps(result['history']))
    assert set(records[0]) >= {'epoch', 'loss', 'valid', 'train_seconds'}

    state = load_checkpoint(str(tmp_path / 'checkpoint.pt'))
    assert state['epoch'] == 12 and state['finished']
    assert state['best_epoch'] == result['best_epoch']
    assert state['run_info'] == run_info
    assert state['config']['lr'] == 0.05 and 'output_dir' not in state[
        'config']
    assert state['data']['num_train_edges'] == 480
    assert state['data']['num_items'] == 120
    assert len(state['data']['train_hash']) == 16
    assert set(state['rng']) == {'python', 'numpy', 'torch', 'cuda',
                                 'generators'}
    assert set(state['optimizer']) == {'state', 'param_groups'}
    assert state['history'] == result['history']


def test_existing_checkpoint_needs_resume(tmp_path):
    Trainer(make_model(), planted_data(),
            config(epochs=2, output_dir=str(tmp_path))).fit()
    with pytest.raises(FileExistsError, match='set resume=True'):
        Trainer(make_model(), planted_data(),
                config(epochs=2, output_dir=str(tmp_path))).fit()


@pytest.mark.parametrize('crash_step', [21, 26])
def test_resume_reaches_exactly_the_uninterrupted_result(tmp_path, crash_step):
    # Crash in epoch 3 (21, redoing 1 epoch) or 4 (26, redoing 2 epochs);
    # the last checkpoint is from epoch 2 in both cases.
    data = planted_data()
    reference = Trainer(make_model(), data,
                        config(output_dir=str(tmp_path / 'a'))).fit()

    out = str(tmp_path / 'b')
    crashing = Trainer(make_model(fail_at_step=crash_step), data,
                       config(output_dir=out))
    with pytest.raises(RuntimeError, match='simulated crash'):
        crashing.fit()
    assert load_checkpoint(osp.join(out, 'checkpoint.pt'))['epoch'] == 2

    # A fresh process: a new (differently initialised) model and trainer.
    resumed = Trainer(make_model(seed=99), data,
                      config(output_dir=out, resume=True)).fit()
    assert comparable(resumed) == comparable(reference)
    assert len(resumed['epoch_seconds']) == 12
    assert open(osp.join(out, 'metrics.jsonl')).read().count('\n') == 6

    # Resuming a finished run reports the same result without training.
    again = Trainer(make_model(seed=7), data,
                    config(output_dir=out, resume=True)).fit()
    assert comparable(again) == comparable(reference)


def test_resume_with_a_new_epoch_budget_ends_or_extends_the_run(tmp_path):
    data = planted_data()
    short = Trainer(make_model(), data, config(epochs=4)).fit()
    full = Trainer(make_model(), data, config(epochs=8)).fit()

    out = str(tmp_path)
    crashing = Trainer(make_model(fail_at_step=31), data,  # in epoch 5
                       config(epochs=8, output_dir=out))
    with pytest.raises(RuntimeError, match='simulated crash'):
        crashing.fit()
    # Ending the run at its last checkpoint (epoch 4) gives the 4-epoch run.
    ended = Trainer(make_model(seed=5), data,
                    config(epochs=4, output_dir=out, resume=True)).fit()
    assert comparable(ended) == comparable(short)
    # A larger budget continues it to the uninterrupted 8-epoch result.
    extended = Trainer(make_model(seed=6), data,
                       config(epochs=8, output_dir=out, resume=True)).fit()
    assert comparable(extended) == comparable(full)


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    data = planted_data()
    fresh = Trainer(make_model(), data, config(epochs=4)).fit()
    with pytest.warns(UserWarning, match='nothing to resume in .*the run '
                      'starts at epoch 0'):
        resumed = Trainer(make_model(), data,
                          config(epochs=4, output_dir=str(tmp_path),
                                 resume=True)).fit()
    assert comparable(resumed) == comparable(fresh)


def test_resume_refuses_a_different_run(tmp_path):
    data = planted_data()
    out = str(tmp_path)
    Trainer(make_model(), data, config(epochs=2, output_dir=out),
            run_info={'dim': 8}).fit()

    with pytest.raises(ValueError, match=r"config.lr: checkpoint 0.05, now "
                       r"0.01"):
        Trainer(make_model(), data,
                config(epochs=2, output_dir=out, resume=True, lr=0.01),
                run_info={'dim': 8}).fit()
    with pytest.raises(ValueError, match=r"run_info.dim: checkpoint 8, now "
                       r"16"):
        Trainer(make_model(), data,
                config(epochs=2, output_dir=out, resume=True),
                run_info={'dim': 16}).fit()

    other = planted_data(seed=1)
    with pytest.raises(ValueError, match=r"cannot resume from .*checkpoint."
                       r"pt.*data.train_hash"):
        Trainer(make_model(), other,
                config(epochs=2, output_dir=out, resume=True),
                run_info={'dim': 8}).fit()
    # Fields that do not change the computation may differ.
    Trainer(make_model(), data,
            config(epochs=2, output_dir=out, resume=True, progress=True),
            run_info={'dim': 8}).fit()


def test_module_has_no_test_set_in_selection(monkeypatch):
    # Selection only ever scores the validation edges; the test edges are
    # scored exactly once, after training.
    targets = []
    evaluate = Trainer.evaluate

    def spy(self, target, exclude, embeddings=None):
        targets.append('test' if target is self.test_edge_index else 'valid')
        return evaluate(self, target, exclude, embeddings)

    monkeypatch.setattr(train_module.Trainer, 'evaluate', spy)
    Trainer(make_model(), planted_data(), config(epochs=6)).fit()
    assert targets == ['valid'] * 3 + ['test']


def test_on_evaluate_extra_is_recorded_and_loss_curve_kept():
    seen = []

    def on_evaluate(epoch, user_emb, item_emb):
        seen.append(epoch)
        return {'norm': float(item_emb.norm())}

    result = Trainer(make_model(), planted_data(), config(epochs=6),
                     on_evaluate=on_evaluate).fit()
    assert seen == [row['epoch'] for row in result['history']]
    assert all('norm' in row['extra'] for row in result['history'])
    assert len(result['epoch_losses']) == result['epochs_run']
    assert result['epoch_losses'][-1] == result['history'][-1]['loss']


# Selection state, protocol, run folder ownership #############################


def test_selection_state_keeps_the_first_maximum_and_counts_patience():
    model = torch.nn.Linear(1, 1)
    selection = SelectionState()
    for epoch, score in [(1, 0.2), (2, 0.3), (3, 0.3), (4, 0.1)]:
        with torch.no_grad():
            model.weight.fill_(epoch)
        selection.observe(epoch, {'recall@20': score}, 'recall@20', model,
                          patience=2)
    assert selection.best_epoch == 2 and selection.best_valid == {
        'recall@20': 0.3}
    assert float(selection.best_model['weight']) == 2.0  # A copy.
    assert selection.bad_evals == 2 and selection.stopped_early


def test_models_follow_the_protocol():
    from torch_geometric_infodcl.models import (
        MFBPR,
        GraphModel,
        PyGLightGCN,
        RecommenderModel,
    )
    assert isinstance(make_model(), RecommenderModel)
    assert not isinstance(make_model(), GraphModel)
    assert isinstance(MFBPR(3, 4), RecommenderModel)
    assert isinstance(PyGLightGCN(3, 4), GraphModel)
    assert not isinstance(torch.nn.Linear(2, 2), RecommenderModel)


def test_non_finite_loss_before_any_checkpoint_says_so(tmp_path):
    model = make_model(fail_at_step=3, failure='nan')  # In epoch 1.
    trainer = Trainer(model, planted_data(), config(output_dir=str(tmp_path)))
    with pytest.raises(FloatingPointError) as info:
        trainer.fit()
    assert 'no checkpoint was written yet (the first evaluation is at ' \
        'epoch 2)' in str(info.value)
    assert 'kept' not in str(info.value)
    assert not osp.exists(tmp_path / 'checkpoint.pt')

    model = make_model(fail_at_step=21, failure='nan')  # In epoch 3.
    trainer = Trainer(model, planted_data(), config(output_dir=str(
        tmp_path / 'b')))
    with pytest.raises(FloatingPointError,
                       match=r"the checkpoint of epoch 2 was kept in '.*b/"
                       r"checkpoint.pt'"):
        trainer.fit()


def test_run_id_on_every_metrics_line_and_sessions(tmp_path):
    data, out = planted_data(), str(tmp_path)
    crashing = Trainer(make_model(fail_at_step=26), data,
                       config(output_dir=out))
    with pytest.raises(RuntimeError, match='simulated crash'):
        crashing.fit()
    result = Trainer(make_model(), data,
                     config(epochs=8, output_dir=out, resume=True)).fit()
    lines = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
    assert len(lines) == 4
    assert {line['run_id'] for line in lines} == {result['run_id']}
    assert len(result['run_id']) == 12
    # The first session started at epoch 0 with 12 epochs; the resumed one
    # at the epoch-2 checkpoint with a budget of 8.
    assert result['sessions'] == [{'start_epoch': 0, 'epochs': 12},
                                  {'start_epoch': 2, 'epochs': 8}]
    assert result['runtime'] == {'device': 'cpu',
                                 'threads': torch.get_num_threads()}
    other = Trainer(make_model(), data, config(epochs=2)).fit()
    assert other['run_id'] != result['run_id']


def test_two_runs_cannot_share_a_folder(tmp_path):
    data, out = planted_data(), str(tmp_path)
    errors = []

    def start_a_second_run(epoch, user_emb, item_emb):
        try:
            Trainer(make_model(), data, config(epochs=2, output_dir=out,
                                               resume=True)).fit()
        except RunFolderBusyError as e:
            errors.append(str(e))

    Trainer(make_model(), data, config(epochs=2, output_dir=out),
            on_evaluate=start_a_second_run).fit()
    assert len(errors) == 1 and 'in use by another run' in errors[0]
    lines = open(tmp_path / 'metrics.jsonl').read().splitlines()
    assert len(lines) == 1  # Only the first run wrote.
    assert sorted(os.listdir(tmp_path)) == ['checkpoint.pt', 'metrics.jsonl']


def test_a_held_run_folder_is_used_and_kept(tmp_path):
    out = str(tmp_path)
    with RunFolder(out).acquire() as folder:
        Trainer(make_model(), planted_data(),
                config(epochs=2, output_dir=out), run_folder=folder).fit()
        assert folder.locked  # The caller still holds it.
        folder.write('results.json', '{}')
    with pytest.raises(ValueError, match="must be the folder of "
                       "config.output_dir"):
        with RunFolder(str(tmp_path / 'other')).acquire() as folder:
            Trainer(make_model(), planted_data(),
                    config(output_dir=out), run_folder=folder)
    with pytest.raises(TypeError, match='an acquired RunFolder'):
        Trainer(make_model(), planted_data(), config(output_dir=out),
                run_folder=RunFolder(out))


def test_resume_refuses_another_thread_count(tmp_path):
    data, out = planted_data(), str(tmp_path)
    threads = torch.get_num_threads()
    Trainer(make_model(), data, config(epochs=2, output_dir=out)).fit()
    torch.set_num_threads(threads + 1)
    try:
        with pytest.raises(ValueError, match=rf"runtime.threads: checkpoint "
                           rf"{threads}, now {threads + 1}.*same CPU "
                           rf"thread count"):
            Trainer(make_model(), data, config(epochs=4, output_dir=out,
                                               resume=True)).fit()
    finally:
        torch.set_num_threads(threads)


# Closed-form models ##########################################################


def test_closed_form_candidates_are_selected_on_validation_only(tmp_path):
    from torch_geometric_infodcl.models.ease import EASE
    data = planted_data()
    store = data['user', 'interacts', 'item']
    grid = [0.5, 5.0, 50.0, 500.0]
    # Independent selection: fit each candidate, score validation.
    scores = []
    for index in range(len(grid)):
        model = EASE(60, 120, l2_weight=grid)
        model.fit(store.edge_index, index)
        scores.append(full_rank_metrics(
            *model.embeddings(store.edge_index), store.val_edge_index,
            exclude_edge_index=store.edge_index, ks=(20, ))['recall@20'])
    best = int(torch.tensor(scores).argmax())

    cfg = config(patience=len(grid), output_dir=str(tmp_path / 'run'))
    model = EASE(60, 120, l2_weight=grid)
    result = Trainer(model, data, cfg).fit()
    assert result['epochs_run'] == len(grid)
    assert [row['epoch'] for row in result['history']] == [1, 2, 3, 4]
    assert result['best_epoch'] == best + 1
    assert float(model.l2_weight) == grid[best]
    assert result['valid']['recall@20'] == pytest.approx(float(scores[best]))
    # A resumed finished run refits nothing and reports the same.
    again = Trainer(EASE(60, 120, l2_weight=grid), data,
                    config(patience=len(grid), output_dir=str(tmp_path / 'run'),
                           resume=True)).fit()
    assert comparable(again) == comparable(result)


def test_closed_form_patience_stops_the_grid():
    from torch_geometric_infodcl.models.ease import EASE
    # Validation Recall@20 falls as lambda shrinks on this data (0.908,
    # 0.900, 0.767, 0.700, ...): two candidates without improvement stop.
    grid = [500.0, 5.0, 0.5, 0.05, 0.005]
    result = Trainer(EASE(60, 120, l2_weight=grid), planted_data(),
                     config(patience=2)).fit()
    assert result['stopped_early'] and result['epochs_run'] == 3
    assert result['best_epoch'] == 1


def test_closed_form_model_needs_fit():
    class NoFit(torch.nn.Module):
        closed_form = True

        def embeddings(self, edge_index):
            return None

    with pytest.raises(TypeError, match="'fit'"):
        Trainer(NoFit(), planted_data(), config())


def test_non_finite_embeddings_at_evaluation_are_a_divergence():
    class Diverged(TinyMF):
        def embeddings(self, edge_index):
            return self.user.weight * float('inf'), self.item.weight

    torch.manual_seed(0)
    with pytest.raises(FloatingPointError, match='non-finite user emb.*2'):
        Trainer(Diverged(60, 120), planted_data(), config(epochs=4)).fit()


def test_compile_wraps_the_loss_and_trains_the_same(monkeypatch):
    # torch.compile itself takes minutes on CPU: a stand-in records what the
    # trainer compiles and returns it unchanged, so the run must equal the
    # eager one and the state_dict keeps its keys.
    compiled = []

    def fake_compile(fn, **kwargs):
        compiled.append((fn, kwargs))
        return fn

    monkeypatch.setattr(torch, 'compile', fake_compile)
    data = planted_data()
    eager = Trainer(make_model(), data, config(epochs=2)).fit()
    model = make_model()
    result = Trainer(model, data, config(epochs=2, compile=True)).fit()
    assert len(compiled) == 1
    fn, kwargs = compiled[0]
    assert fn == model.loss and kwargs == {'dynamic': True}
    assert result['test'] == eager['test']
    assert set(model.state_dict()) == set(make_model().state_dict())
