r"""Training loop with validation-based model selection, early stopping,
atomic checkpoints and exact resumption, for every model that follows the
model protocol of :obj:`docs/ARCHITECTURE.md`::

    model.loss(batch: TrainBatch) -> (total: Tensor, terms: Dict[str, Tensor])
    model.embeddings(edge_index: Tensor) -> (user_emb, item_emb)
"""
import copy
import dataclasses
import hashlib
import json
import math
import os
import os.path as osp
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric import seed_everything
from torch_geometric.data import HeteroData
from tqdm import tqdm

from torch_geometric_infodcl.checkpoint import (
    get_rng_states,
    load_checkpoint,
    save_checkpoint,
    set_rng_states,
    state_dict_copy,
)
from torch_geometric_infodcl.data.sampling import (
    NegativeSampler,
    check_bipartite_edge_index,
)
from torch_geometric_infodcl.metrics import METRIC_NAMES, full_rank_metrics

CHECKPOINT_FILE = 'checkpoint.pt'
METRICS_FILE = 'metrics.jsonl'
# Fields that do not change what is computed: they may differ on resume.
# Fields that may change on resume: they do not alter the computation up to
# the checkpoint (a new 'epochs' budget ends or extends the run).
_RESUME_FREE_FIELDS = ('progress', 'output_dir', 'resume', 'epochs')


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"TrainConfig.{name} must be an int "
                        f"(got {type(value).__name__} {value!r})")
    if value < low:
        raise ValueError(f"TrainConfig.{name} must be >= {low} "
                         f"(got {value})")


def _check_float(name: str, value: Any, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"TrainConfig.{name} must be a float "
                        f"(got {type(value).__name__} {value!r})")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = '> 0' if positive else '>= 0'
        raise ValueError(f"TrainConfig.{name} must be finite and {bound} "
                         f"(got {value})")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"TrainConfig.{name} must be a bool "
                        f"(got {type(value).__name__} {value!r})")


@dataclass
class TrainConfig:
    r"""Hyperparameters of :class:`Trainer`; every field is validated on
    construction.

    Args:
        epochs (int, optional): The maximum number of epochs.
            (default: :obj:`1000`)
        batch_size (int, optional): Training triples per step.
            (default: :obj:`2000`)
        lr (float, optional): Adam learning rate. (default: :obj:`0.005`)
        weight_decay (float, optional): Adam weight decay.
            (default: :obj:`0.0`)
        eval_every (int, optional): Validate every this many epochs (and at
            the last epoch). (default: :obj:`10`)
        patience (int, optional): Stop after this many evaluations without
            improvement of :obj:`monitor`. (default: :obj:`5`)
        monitor (str, optional): The validation metric that selects the
            best state, :obj:`"<name>@<k>"` with :obj:`name` in
            :obj:`recall`, :obj:`ndcg`, :obj:`precision`, :obj:`hit`,
            :obj:`mrr` and :obj:`k` in :obj:`ks`. (default: :obj:`"recall@20"`)
        ks (tuple of int, optional): Cut-offs of the reported metrics.
            (default: :obj:`(10, 20, 50)`)
        eval_batch_size (int, optional): Users scored at once during
            evaluation. (default: :obj:`2048`)
        seed (int, optional): Seeds Python, NumPy, PyTorch and the sampling
            generator. (default: :obj:`2024`)
        device (str, optional): :obj:`"cpu"`, :obj:`"cuda"`,
            :obj:`"cuda:<n>"` or :obj:`"auto"` (CUDA when available).
            (default: :obj:`"cpu"`)
        bf16 (bool, optional): Computes the loss under
            :func:`torch.autocast` with :obj:`torch.bfloat16`.
            (default: :obj:`False`)
        progress (bool, optional): Shows a progress bar per epoch.
            (default: :obj:`True`)
        output_dir (str, optional): Folder for :obj:`metrics.jsonl` and
            :obj:`checkpoint.pt`. (default: :obj:`None`)
        resume (bool, optional): Continues from
            :obj:`output_dir/checkpoint.pt` if it exists.
            (default: :obj:`False`)
        max_grad_norm (float, optional): Clips the gradient norm to this
            value. (default: :obj:`None`)
    """
    epochs: int = 1000
    batch_size: int = 2000
    lr: float = 0.005
    weight_decay: float = 0.0
    eval_every: int = 10
    patience: int = 5
    monitor: str = 'recall@20'
    ks: Tuple[int, ...] = (10, 20, 50)
    eval_batch_size: int = 2048
    seed: int = 2024
    device: str = 'cpu'
    bf16: bool = False
    progress: bool = True
    output_dir: Optional[str] = None
    resume: bool = False
    max_grad_norm: Optional[float] = None

    def __post_init__(self) -> None:
        for name in ('epochs', 'batch_size', 'eval_every', 'patience',
                     'eval_batch_size'):
            _check_int(name, getattr(self, name), 1)
        _check_int('seed', self.seed, 0)
        if self.seed >= 2**32:
            raise ValueError(f"TrainConfig.seed must be < 2**32 (NumPy's "
                             f"limit) (got {self.seed})")
        _check_float('lr', self.lr, positive=True)
        _check_float('weight_decay', self.weight_decay, positive=False)
        if self.max_grad_norm is not None:
            _check_float('max_grad_norm', self.max_grad_norm, positive=True)
        for name in ('bf16', 'progress', 'resume'):
            _check_bool(name, getattr(self, name))
        self._check_ks_and_monitor()
        self._check_device()
        if self.output_dir is not None:
            if not isinstance(self.output_dir, (str, os.PathLike)):
                raise TypeError(f"TrainConfig.output_dir must be a path "
                                f"(got {type(self.output_dir).__name__})")
            self.output_dir = os.fspath(self.output_dir)
        if self.resume and self.output_dir is None:
            raise ValueError("TrainConfig.resume=True needs an output_dir "
                             "holding the checkpoint")

    def _check_ks_and_monitor(self) -> None:
        if not isinstance(self.ks, (tuple, list)) or len(self.ks) == 0:
            raise TypeError(f"TrainConfig.ks must be a non-empty tuple of "
                            f"ints (got {self.ks!r})")
        for k in self.ks:
            _check_int('ks', k, 1)
        if len(set(self.ks)) != len(self.ks):
            raise ValueError(f"TrainConfig.ks has duplicates ({self.ks})")
        self.ks = tuple(self.ks)
        if not isinstance(self.monitor, str):
            raise TypeError(f"TrainConfig.monitor must be a str "
                            f"(got {type(self.monitor).__name__})")
        name, _, k = self.monitor.partition('@')
        if name not in METRIC_NAMES or not k.isdigit() or \
                int(k) not in self.ks:
            raise ValueError(f"TrainConfig.monitor must be '<name>@<k>' with "
                             f"name in {METRIC_NAMES} and k in ks={self.ks} "
                             f"(got '{self.monitor}')")

    def _check_device(self) -> None:
        if not isinstance(self.device, str):
            raise TypeError(f"TrainConfig.device must be a str "
                            f"(got {type(self.device).__name__})")
        if self.device == 'auto':
            return
        try:
            device = torch.device(self.device)
        except RuntimeError as e:
            raise ValueError(f"TrainConfig.device '{self.device}' is not a "
                             f"device name ({e})") from e
        if device.type not in ('cpu', 'cuda'):
            raise ValueError(f"TrainConfig.device must be 'cpu', 'cuda', "
                             f"'cuda:<n>' or 'auto' (got '{self.device}')")

    def resolve_device(self) -> torch.device:
        r"""Returns the :class:`torch.device` to train on."""
        if self.device == 'auto':
            return torch.device('cuda' if torch.cuda.is_available() else
                                'cpu')
        device = torch.device(self.device)
        if device.type == 'cuda':
            if not torch.cuda.is_available():
                raise ValueError(f"TrainConfig.device='{self.device}' but "
                                 f"CUDA is not available")
            if device.index is not None and \
                    device.index >= torch.cuda.device_count():
                raise ValueError(f"TrainConfig.device='{self.device}' but "
                                 f"only {torch.cuda.device_count()} CUDA "
                                 f"devices are visible")
        return device

    def to_dict(self) -> Dict[str, Any]:
        r"""Returns the fields as JSON-compatible values."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _interaction_store(data: HeteroData) -> Any:
    if not isinstance(data, HeteroData):
        raise TypeError(f"'data' must be a HeteroData "
                        f"(got {type(data).__name__})")
    edge_types = [et for et in data.edge_types
                  if et[0] == 'user' and et[2] == 'item']
    if len(edge_types) != 1:
        raise ValueError(f"'data' must hold exactly one ('user', *, 'item') "
                         f"edge type (got {edge_types})")
    return data[edge_types[0]]


def _node_count(data: HeteroData, node_type: str) -> int:
    count = data[node_type].num_nodes
    if not isinstance(count, int) or count <= 0:
        raise ValueError(f"'data['{node_type}'].num_nodes' must be a "
                         f"positive int (got {count!r})")
    return count


def _edge_tensor(store: Any, name: str, num_users: int,
                 num_items: int) -> Tensor:
    edge_index = getattr(store, name, None)
    if edge_index is None:
        raise ValueError(f"'data' has no {name} on its ('user', *, 'item') "
                         f"edges")
    check_bipartite_edge_index(edge_index, num_users, num_items, name)
    if edge_index.size(1) == 0:
        raise ValueError(f"'data' {name} is empty")
    return edge_index.long()


def edge_hash(edge_index: Tensor) -> str:
    r"""Returns a SHA-256 digest (16 hex digits) of the edges in order."""
    array = edge_index.detach().long().cpu().contiguous().numpy()
    return hashlib.sha256(array.tobytes()).hexdigest()[:16]


def _first_sentence(error: Exception) -> str:
    return str(error).split('\n')[0]


class Trainer:
    r"""Trains a recommender of the model protocol of `"InfoDCL: Informative
    Noise Enhanced Diffusion Based Contrastive Learning"
    <https://arxiv.org/abs/2512.16576>`_ on the training interactions of
    :obj:`data`, selects the state with the best validation
    :obj:`config.monitor` and reports test metrics at that state only.

    Each epoch visits every training interaction once in a random order with
    one uniform negative (:class:`~torch_geometric_infodcl.data.sampling.
    NegativeSampler`) and minimises :obj:`model.loss(batch)` with Adam:

    .. math::
        \boldsymbol{\theta} \leftarrow \mathrm{Adam}\left(
        \nabla_{\boldsymbol{\theta}} \mathcal{L}(u, i^+, i^-)\right)

    Every :obj:`eval_every` epochs (and at the last) it scores
    :obj:`model.embeddings(edge_index)` against the validation edges with
    training items masked, keeps a copy of the best state, and stops after
    :obj:`patience` evaluations without improvement. The test edges are
    scored once, at the best state, with training and validation items
    masked.

    With :obj:`config.output_dir` each evaluation appends one JSON line to
    :obj:`metrics.jsonl` and atomically rewrites :obj:`checkpoint.pt` with
    the full state (model, optimizer, every random number generator,
    selection state, history, config, :obj:`run_info` and a fingerprint of
    the data), from which :obj:`config.resume=True` continues to exactly the
    metrics of an uninterrupted run (on CPU; some CUDA kernels are not
    deterministic).

    A model that defines :obj:`set_graph(edge_index)` (e.g.
    :class:`~torch_geometric_infodcl.models.baselines.PyGLightGCN`) receives
    the training edges before training. The model's initial parameters are
    the caller's: seed (e.g. with :func:`torch_geometric.seed_everything`)
    before constructing it for a fully reproducible run.

    Args:
        model (torch.nn.Module): The model; trained in place and left at its
            best validation state by :meth:`fit`.
        data (HeteroData): :obj:`data['user'].num_nodes`,
            :obj:`data['item'].num_nodes` and the (user, item) edges'
            :obj:`edge_index`, :obj:`val_edge_index`, :obj:`test_edge_index`.
        config (TrainConfig, optional): The hyperparameters.
            (default: :obj:`TrainConfig()`)
        run_info (dict, optional): JSON-serialisable description of the run
            (e.g. dataset and model arguments), stored in the checkpoint and
            compared on resume. (default: :obj:`None`)
        on_evaluate (callable, optional): Called at every evaluation as
            :obj:`on_evaluate(epoch, user_emb, item_emb)`; a returned dict is
            stored under :obj:`extra` in that evaluation's history record (so
            it survives resumption). It must not influence selection; the
            example uses it for the authors' reference protocol.
            (default: :obj:`None`)
    """
    def __init__(self, model: torch.nn.Module, data: HeteroData,
                 config: Optional[TrainConfig] = None,
                 run_info: Optional[Dict[str, Any]] = None,
                 on_evaluate: Optional[Callable[[int, Tensor, Tensor],
                                                Optional[Dict[str, Any]]]] = None,
                 ) -> None:
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise TypeError(f"'config' must be a TrainConfig "
                            f"(got {type(config).__name__})")
        self._check_model(model)
        self.model = model
        self.config = config
        self.run_info = self._normalise_run_info(run_info)
        self.on_evaluate = on_evaluate
        self.device = config.resolve_device()

        store = _interaction_store(data)
        self.num_users, self.num_items = (_node_count(data, node_type)
                                          for node_type in ('user', 'item'))
        self.edge_index, self.val_edge_index, self.test_edge_index = (
            _edge_tensor(store, name, self.num_users, self.num_items).to(
                self.device)
            for name in ('edge_index', 'val_edge_index', 'test_edge_index'))
        self.fingerprint = self._data_fingerprint()

    @staticmethod
    def _check_model(model: Any) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"'model' must be a torch.nn.Module "
                            f"(got {type(model).__name__})")
        for method in ('loss', 'embeddings'):
            if not callable(getattr(model, method, None)):
                raise TypeError(f"'model' ({type(model).__name__}) has no "
                                f"'{method}' method; see the model protocol "
                                f"in docs/ARCHITECTURE.md")

    @staticmethod
    def _normalise_run_info(
            run_info: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        if run_info is None:
            return None
        if not isinstance(run_info, dict):
            raise TypeError(f"'run_info' must be a dict "
                            f"(got {type(run_info).__name__})")
        try:
            return json.loads(json.dumps(run_info))
        except (TypeError, ValueError) as e:
            raise TypeError(f"'run_info' must be JSON-serialisable "
                            f"({_first_sentence(e)})") from e

    def _data_fingerprint(self) -> Dict[str, Any]:
        return {
            'num_users': self.num_users,
            'num_items': self.num_items,
            'num_train_edges': self.edge_index.size(1),
            'num_val_edges': self.val_edge_index.size(1),
            'num_test_edges': self.test_edge_index.size(1),
            'train_hash': edge_hash(self.edge_index),
            'eval_hash': edge_hash(
                torch.cat([self.val_edge_index, self.test_edge_index], 1)),
        }

    # Training ################################################################

    def fit(self) -> Dict[str, Any]:
        r"""Trains, selects and tests the model.

        Returns:
            A dict with :obj:`best_epoch`, :obj:`valid` (metrics at the best
            epoch), :obj:`test` (metrics at the best epoch), :obj:`epochs_run`,
            :obj:`epoch_seconds` (training seconds of every epoch, evaluation
            excluded), :obj:`epoch_seconds_median`,
            :obj:`time_to_best_seconds` (training seconds up to and including
            the best epoch), :obj:`stopped_early` and :obj:`history` (one
            record per evaluation: :obj:`epoch`, :obj:`loss` (the evaluated
            epoch's mean of the total and of every named term),
            :obj:`valid`, :obj:`train_seconds`, :obj:`eval_seconds`,
            :obj:`best_epoch`; the lines of :obj:`metrics.jsonl`).
        """
        cfg = self.config
        seed_everything(cfg.seed)
        self.model.to(self.device)
        if callable(getattr(self.model, 'set_graph', None)):
            self.model.set_graph(self.edge_index)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.sampler = NegativeSampler(self.edge_index, self.num_users,
                                       self.num_items)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr,
                                          weight_decay=cfg.weight_decay)
        self.state = self._fresh_state()
        self._prepare_output_dir()
        if self.state['epoch'] > 0:
            # Restored: the (possibly new) epoch budget decides whether the
            # run goes on; an early stop stays a stop.
            self.state['finished'] = (self.state['stopped_early'] or
                                      self.state['epoch'] >= cfg.epochs)

        epoch = self.state['epoch']
        while not self.state['finished']:
            epoch += 1
            self._train_epoch(epoch)
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                self._evaluate_and_select(epoch)
        return self._final_report()

    @staticmethod
    def _fresh_state() -> Dict[str, Any]:
        return {
            'epoch': 0,
            'finished': False,
            'stopped_early': False,
            'best_epoch': 0,
            'best_valid': None,
            'best_model': None,
            'bad_evals': 0,
            'history': [],
            'epoch_seconds': [],
            'epoch_losses': {},
            'loss_curve': [],
        }

    def _train_epoch(self, epoch: int) -> None:
        cfg = self.config
        self.model.train()
        start = time.perf_counter()
        sums: Optional[List[float]] = None
        names: List[str] = []
        batches = self.sampler.epoch_batches(cfg.batch_size, self.generator)
        bar = tqdm(batches, total=self.sampler.num_batches(cfg.batch_size),
                   desc=f'epoch {epoch}', disable=not cfg.progress,
                   leave=False, dynamic_ncols=True)
        try:
            for step, batch in enumerate(bar, start=1):
                names, values = self._train_step(batch, epoch)
                sums = values if sums is None else [
                    s + v for s, v in zip(sums, values)
                ]
                if cfg.progress:
                    bar.set_postfix({n: f'{s / step:.4g}'
                                     for n, s in zip(names, sums)},
                                    refresh=False)
        finally:
            bar.close()
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        self.state['epoch_seconds'].append(time.perf_counter() - start)
        self.state['epoch_losses'] = {
            n: s / step for n, s in zip(names, sums)
        }
        self.state['loss_curve'].append(self.state['epoch_losses'])
        self.state['epoch'] = epoch

    def _train_step(self, batch: Any, epoch: int) -> Tuple[List[str],
                                                           List[float]]:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.config.bf16):
            total, terms = self.model.loss(batch)
        names, stacked = self._stack_terms(total, terms)
        values = stacked.tolist()  # The one host-device sync per step.
        if not math.isfinite(values[0]):
            bad = [n for n, v in zip(names[1:], values[1:])
                   if not math.isfinite(v)]
            kept = ('' if self.config.output_dir is None else
                    '; the last checkpoint was kept')
            raise FloatingPointError(
                f"non-finite training loss at epoch {epoch}: total = "
                f"{values[0]}; non-finite term(s): "
                f"{', '.join(bad) if bad else 'none (the sum overflowed)'}"
                f"{kept}")
        total.backward()
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                           self.config.max_grad_norm)
        self.optimizer.step()
        return names, values

    @staticmethod
    def _stack_terms(total: Any, terms: Any) -> Tuple[List[str], Tensor]:
        if not isinstance(total, Tensor) or total.numel() != 1:
            raise TypeError(f"model.loss must return a scalar tensor as its "
                            f"total (got {type(total).__name__})")
        if not isinstance(terms, dict):
            raise TypeError(f"model.loss must return a dict of named terms "
                            f"(got {type(terms).__name__})")
        for name, term in terms.items():
            if not isinstance(term, Tensor) or term.numel() != 1:
                raise TypeError(f"loss term '{name}' must be a scalar tensor "
                                f"(got {type(term).__name__})")
        names = ['total'] + list(terms)
        stacked = torch.stack([total.detach().float().reshape(())] + [
            t.detach().float().reshape(()).to(total.device)
            for t in terms.values()
        ])
        return names, stacked

    # Evaluation ##############################################################

    @torch.no_grad()
    def embeddings(self) -> Tuple[Tensor, Tensor]:
        r"""Returns :obj:`model.embeddings(edge_index)` in evaluation
        mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            return self.model.embeddings(self.edge_index)
        finally:
            self.model.train(was_training)

    @torch.no_grad()
    def evaluate(
        self,
        target: Tensor,
        exclude: List[Tensor],
        embeddings: Optional[Tuple[Tensor, Tensor]] = None,
    ) -> Dict[str, float]:
        r"""Scores :obj:`embeddings` (by default :meth:`embeddings`)
        against the :obj:`target` edges with the :obj:`exclude` edges
        masked."""
        user_emb, item_emb = (self.embeddings()
                              if embeddings is None else embeddings)
        metrics = full_rank_metrics(user_emb.float(), item_emb.float(),
                                    target, exclude_edge_index=exclude,
                                    ks=self.config.ks,
                                    batch_size=self.config.eval_batch_size)
        return {
            name: value.item() if isinstance(value, Tensor) else value
            for name, value in metrics.items()
        }

    def _evaluate_and_select(self, epoch: int) -> None:
        cfg, state = self.config, self.state
        start = time.perf_counter()
        embeddings = self.embeddings()
        valid = self.evaluate(self.val_edge_index, [self.edge_index],
                              embeddings)
        eval_seconds = time.perf_counter() - start
        extra = (None if self.on_evaluate is None else self.on_evaluate(
            epoch, *embeddings))
        if cfg.monitor not in valid:
            raise ValueError(f"monitor '{cfg.monitor}' is not among the "
                             f"validation metrics {sorted(valid)}")
        score = valid[cfg.monitor]
        if not math.isfinite(score):
            raise FloatingPointError(f"validation {cfg.monitor} is {score} "
                                     f"at epoch {epoch}")

        improved = state['best_valid'] is None or \
            score > state['best_valid'][cfg.monitor]
        if improved:
            state['best_epoch'] = epoch
            state['best_valid'] = valid
            state['best_model'] = state_dict_copy(self.model)
            state['bad_evals'] = 0
        else:
            state['bad_evals'] += 1
        state['stopped_early'] = state['bad_evals'] >= cfg.patience
        state['finished'] = state['stopped_early'] or epoch >= cfg.epochs

        record = {
            'epoch': epoch,
            'loss': state['epoch_losses'],
            'valid': valid,
            'train_seconds': state['epoch_seconds'][-1],
            'eval_seconds': eval_seconds,
            'best_epoch': state['best_epoch'],
        }
        if extra is not None:
            record['extra'] = extra
        state['history'].append(record)
        if cfg.output_dir is not None:
            self._save()
            with open(self._path(METRICS_FILE), 'a') as f:
                f.write(json.dumps(record) + '\n')

    def _final_report(self) -> Dict[str, Any]:
        state = self.state
        self.model.load_state_dict(state['best_model'])
        test = self.evaluate(self.test_edge_index,
                             [self.edge_index, self.val_edge_index])
        seconds = state['epoch_seconds']
        return {
            'best_epoch': state['best_epoch'],
            'valid': state['best_valid'],
            'test': test,
            'epochs_run': state['epoch'],
            'epoch_seconds': list(seconds),
            'epoch_seconds_median': statistics.median(seconds),
            'time_to_best_seconds': sum(seconds[:state['best_epoch']]),
            'stopped_early': state['stopped_early'],
            'history': copy.deepcopy(state['history']),
            'epoch_losses': copy.deepcopy(state['loss_curve']),
        }

    # Output folder, checkpoints and resumption ###############################

    def _path(self, name: str) -> str:
        return osp.join(self.config.output_dir, name)

    def _prepare_output_dir(self) -> None:
        cfg = self.config
        if cfg.output_dir is None:
            return
        os.makedirs(cfg.output_dir, exist_ok=True)
        checkpoint = self._path(CHECKPOINT_FILE)
        if osp.exists(checkpoint):
            if not cfg.resume:
                raise FileExistsError(
                    f"'{checkpoint}' exists; set resume=True to continue "
                    f"that run or choose another output_dir")
            self._restore(load_checkpoint(checkpoint, map_location='cpu'),
                          checkpoint)
        # metrics.jsonl mirrors the history of the checkpoint: lines written
        # after it by an interrupted run are dropped.
        lines = ''.join(json.dumps(r) + '\n' for r in self.state['history'])
        self._write_atomic(self._path(METRICS_FILE), lines)

    @staticmethod
    def _write_atomic(path: str, text: str) -> None:
        fd, tmp_path = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
        try:
            with os.fdopen(fd, 'w') as f:
                f.write(text)
            os.replace(tmp_path, path)
        except BaseException:
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            raise

    def _identity(self) -> Dict[str, Any]:
        config = self.config.to_dict()
        for name in _RESUME_FREE_FIELDS:
            config.pop(name)
        return {
            'config': config,
            'run_info': self.run_info,
            'data': self.fingerprint,
            'model_class': type(self.model).__name__,
        }

    def _save(self) -> None:
        state = dict(self.state)
        state.update(
            self._identity(),
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            rng=get_rng_states({'sampler': self.generator}),
        )
        save_checkpoint(self._path(CHECKPOINT_FILE), state)

    def _restore(self, saved: Dict[str, Any], path: str) -> None:
        differences = []
        current = self._identity()
        for section, now in current.items():
            before = saved.get(section)
            if isinstance(now, dict) and isinstance(before, dict):
                for key in sorted(set(now) | set(before)):
                    if now.get(key, '<missing>') != before.get(
                            key, '<missing>'):
                        differences.append(
                            f"{section}.{key}: checkpoint "
                            f"{before.get(key, '<missing>')!r}, now "
                            f"{now.get(key, '<missing>')!r}")
            elif now != before:
                differences.append(f"{section}: checkpoint {before!r}, now "
                                   f"{now!r}")
        if differences:
            raise ValueError(f"cannot resume from '{path}': the run differs "
                             f"({'; '.join(differences)})")

        self.model.load_state_dict(saved['model'])
        self.optimizer.load_state_dict(saved['optimizer'])
        set_rng_states(saved['rng'], {'sampler': self.generator})
        self.state = {key: saved[key] for key in self._fresh_state()}
        if self.state['best_model'] is not None:
            self.state['best_model'] = {
                k: v.to(self.device)
                for k, v in self.state['best_model'].items()
            }

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({type(self.model).__name__}, '
                f'num_users={self.num_users}, num_items={self.num_items}, '
                f'device={self.device})')
