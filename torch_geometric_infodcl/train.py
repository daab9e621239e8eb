r"""Training loop with validation-based model selection, early stopping,
atomic checkpoints and exact resumption, for every model that follows
:class:`~torch_geometric_infodcl.models.protocol.RecommenderModel`::

    model.loss(batch: TrainBatch) -> (total: Tensor, terms: Dict[str, Tensor])
    model.embeddings(edge_index: Tensor) -> (user_emb, item_emb)
"""
import copy
import dataclasses
import hashlib
import json
import math
import os.path as osp
import statistics
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric import seed_everything
from torch_geometric.data import HeteroData
from tqdm import tqdm

from torch_geometric_infodcl import distributed
from torch_geometric_infodcl.checkpoint import (
    CheckpointError,
    get_rng_states,
    load_checkpoint,
    save_checkpoint,
    set_rng_states,
    state_dict_copy,
)
from torch_geometric_infodcl.config import TrainConfig
from torch_geometric_infodcl.data.sampling import (
    NegativeSampler,
    check_world_batch,
)
from torch_geometric_infodcl.models.protocol import (
    ClosedFormModel,
    GraphModel,
    RecommenderModel,
    missing_methods,
)
from torch_geometric_infodcl.run_folder import (
    CHECKPOINT_FILE,
    METRICS_FILE,
    RunFolder,
)
from torch_geometric_infodcl.utils.checks import check_edge_index

__all__ = ['Trainer', 'TrainConfig', 'SelectionState', 'TrainState']

EvaluateHook = Callable[[int, Tensor, Tensor], Optional[Dict[str, Any]]]
# TrainConfig fields left out of the resume identity: they do not alter the
# computation up to the checkpoint (a new 'epochs' budget ends or extends the
# run; the device is compared as resolved, under 'runtime').
RESUME_FREE_FIELDS = ('progress', 'output_dir', 'resume', 'epochs', 'device')


@dataclass
class SelectionState:
    r"""Model selection on the validation monitor: the best evaluation so
    far, a copy of the model at it, and the count of evaluations since.

    Args:
        best_epoch (int, optional): The epoch of the best evaluation.
            (default: :obj:`0`, none yet)
        best_valid (dict, optional): Its validation metrics.
            (default: :obj:`None`)
        best_model (dict, optional): The model's :obj:`state_dict` at it.
            (default: :obj:`None`)
        bad_evals (int, optional): Evaluations since without improvement.
            (default: :obj:`0`)
        stopped_early (bool, optional): Whether :obj:`bad_evals` reached the
            patience. (default: :obj:`False`)
    """
    best_epoch: int = 0
    best_valid: Optional[Dict[str, float]] = None
    best_model: Optional[Dict[str, Tensor]] = None
    bad_evals: int = 0
    stopped_early: bool = False

    def observe(self, epoch: int, valid: Dict[str, float], monitor: str,
                model: torch.nn.Module, patience: int) -> None:
        r"""Records the evaluation :obj:`valid` of :obj:`model` at
        :obj:`epoch`; a strictly better :obj:`monitor` becomes the best."""
        if self.best_valid is None or \
                valid[monitor] > self.best_valid[monitor]:
            self.best_epoch = epoch
            self.best_valid = valid
            self.best_model = state_dict_copy(model)
            self.bad_evals = 0
        else:
            self.bad_evals += 1
        self.stopped_early = self.bad_evals >= patience


@dataclass
class TrainState:
    r"""Everything :class:`Trainer` carries from epoch to epoch besides the
    model, optimizer and random number generators; stored in the checkpoint
    as plain values (flat, the :class:`SelectionState` fields included).

    Args:
        run_id (str): Identifies the run (kept on resumption); written on
            every line of :obj:`metrics.jsonl`.
        epoch (int, optional): Epochs trained. (default: :obj:`0`)
        finished (bool, optional): Whether training is over.
            (default: :obj:`False`)
        history (list, optional): One record per evaluation.
            (default: :obj:`[]`)
        epoch_seconds (list, optional): Training seconds of every epoch.
            (default: :obj:`[]`)
        epoch_losses (dict, optional): The last epoch's mean loss terms.
            (default: :obj:`{}`)
        loss_curve (list, optional): The mean loss terms of every epoch.
            (default: :obj:`[]`)
        sessions (list, optional): One record per :meth:`Trainer.fit` call
            that trained or reported the run: :obj:`start_epoch` and the
            :obj:`epochs` budget. (default: :obj:`[]`)
        selection (SelectionState, optional): The model selection.
            (default: :obj:`SelectionState()`)
    """
    run_id: str
    epoch: int = 0
    finished: bool = False
    history: List[Dict[str, Any]] = field(default_factory=list)
    epoch_seconds: List[float] = field(default_factory=list)
    epoch_losses: Dict[str, float] = field(default_factory=dict)
    loss_curve: List[Dict[str, float]] = field(default_factory=list)
    sessions: List[Dict[str, int]] = field(default_factory=list)
    selection: SelectionState = field(default_factory=SelectionState)

    def to_checkpoint(self) -> Dict[str, Any]:
        r"""Returns the state as one flat dict of plain values."""
        out = {f.name: getattr(self, f.name)
               for f in dataclasses.fields(self) if f.name != 'selection'}
        out.update((f.name, getattr(self.selection, f.name))
                   for f in dataclasses.fields(SelectionState))
        return out

    @classmethod
    def from_checkpoint(cls, saved: Dict[str, Any], path: str) -> 'TrainState':
        r"""Rebuilds the state from :meth:`to_checkpoint`'s dict."""
        names = [f.name for f in dataclasses.fields(cls)
                 if f.name != 'selection']
        selection_names = [f.name for f in dataclasses.fields(SelectionState)]
        missing = [n for n in names + selection_names if n not in saved]
        if missing:
            raise CheckpointError(f"'{path}' lacks the training state "
                                  f"field(s) {missing} (written by another "
                                  f"version of torch_geometric_infodcl?)")
        return cls(selection=SelectionState(
            **{n: saved[n] for n in selection_names}),
                   **{n: saved[n] for n in names})


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
    check_edge_index(edge_index, num_users, num_items, name)
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
    r"""Trains a recommender of the model protocol
    (:class:`~torch_geometric_infodcl.models.protocol.RecommenderModel`) of
    `"InfoDCL: Informative Noise Enhanced Diffusion Based Contrastive
    Learning" <https://arxiv.org/abs/2512.16576>`_ on the training
    interactions of :obj:`data`, selects the state with the best validation
    :obj:`config.monitor` and reports test metrics at that state only.

    Each epoch visits every training interaction once in a random order with
    one uniform negative (:class:`~torch_geometric_infodcl.data.sampling.
    NegativeSampler`) and minimises :obj:`model.loss(batch)` with Adam:

    .. math::
        \boldsymbol{\theta} \leftarrow \mathrm{Adam}\left(
        \nabla_{\boldsymbol{\theta}} \mathcal{L}(u, i^+, i^-)\right)

    Every :obj:`eval_every` epochs (and at the last) it scores
    :obj:`model.embeddings(edge_index)` against the validation edges with
    training items masked, keeps a copy of the best state
    (:class:`SelectionState`), and stops after :obj:`patience` evaluations
    without improvement. The test edges are scored once, at the best state,
    with training and validation items masked.

    With :obj:`config.output_dir` the run owns that folder while it lives
    (:class:`~torch_geometric_infodcl.run_folder.RunFolder`: a lock, no
    reuse of a previous run's folder without :obj:`config.resume`), and each
    evaluation atomically rewrites :obj:`checkpoint.pt` with the full state
    (model, optimizer, every random number generator, :class:`TrainState`,
    config, :obj:`run_info`, a fingerprint of the data and the device and
    CPU thread count) and then :obj:`metrics.jsonl` (one line per
    evaluation, tagged with the run id). :obj:`config.resume=True`
    continues from the checkpoint to exactly the metrics of an uninterrupted
    run (on CPU; some CUDA kernels are not deterministic) and refuses a
    checkpoint of a different run, listing the differences: only
    :obj:`epochs` (which ends the run at its last checkpoint or extends it)
    and :obj:`progress` may change.

    A model that defines :obj:`set_graph(edge_index)`
    (:class:`~torch_geometric_infodcl.models.protocol.GraphModel`, e.g.
    :class:`~torch_geometric_infodcl.models.baselines.PyGLightGCN`) receives
    the training edges before training. A model with
    :obj:`closed_form = True`
    (:class:`~torch_geometric_infodcl.models.protocol.ClosedFormModel`, e.g.
    :class:`~torch_geometric_infodcl.models.ease.EASE`) is not trained by
    gradient: each of its :obj:`num_fits` candidate fits
    (:obj:`fit(edge_index, index)`) takes the place of an epoch, evaluated,
    selected on validation and checkpointed the same way (:obj:`epochs`,
    :obj:`batch_size`, :obj:`lr` and :obj:`eval_every` do not apply). The model's initial parameters are
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
            example uses it for the authors' reference protocol, the tuner
            to report :attr:`last_valid` (this evaluation's validation
            metrics) to Optuna. (default: :obj:`None`)
        run_folder (RunFolder, optional): The acquired folder of
            :obj:`config.output_dir`, when the caller holds it for longer
            than :meth:`fit` (to write more files under the same lock); by
            default :meth:`fit` acquires and releases it.
            (default: :obj:`None`)
    """
    def __init__(self, model: torch.nn.Module, data: HeteroData,
                 config: Optional[TrainConfig] = None,
                 run_info: Optional[Dict[str, Any]] = None,
                 on_evaluate: Optional[EvaluateHook] = None,
                 run_folder: Optional[RunFolder] = None) -> None:
        config = TrainConfig() if config is None else config
        if not isinstance(config, TrainConfig):
            raise TypeError(f"'config' must be a TrainConfig "
                            f"(got {type(config).__name__})")
        self._check_model(model)
        self._check_run_folder(run_folder, config)
        self.model = model
        self.config = config
        self.run_info = self._normalise_run_info(run_info)
        self.on_evaluate = on_evaluate
        self.run_folder = run_folder
        self._owns_folder = False
        self._prepared = False
        self.closed_form = bool(getattr(model, 'closed_form', False))
        self.last_valid: Optional[Dict[str, float]] = None
        self.device = config.resolve_device()
        self.rank, self.world_size = distributed.world()
        if not self.closed_form:
            check_world_batch(config.batch_size, self.world_size)

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
        protocol = (ClosedFormModel if getattr(model, 'closed_form', False)
                    else RecommenderModel)
        missing = missing_methods(model, protocol)
        if missing:
            raise TypeError(f"'model' ({type(model).__name__}) has no "
                            f"'{missing[0]}' method (missing: "
                            f"{', '.join(missing)}); see the "
                            f"{protocol.__name__} protocol in "
                            f"torch_geometric_infodcl.models.protocol")

    @staticmethod
    def _check_run_folder(run_folder: Optional[RunFolder],
                          config: TrainConfig) -> None:
        if run_folder is None:
            return
        if not isinstance(run_folder, RunFolder) or not run_folder.locked:
            raise TypeError("'run_folder' must be an acquired RunFolder")
        if config.output_dir is None or osp.abspath(
                config.output_dir) != osp.abspath(run_folder.path):
            raise ValueError(f"'run_folder' ('{run_folder.path}') must be "
                             f"the folder of config.output_dir "
                             f"({config.output_dir!r})")

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

    def prepare(self) -> None:
        r"""Seeds, builds the sampler and optimizer and, with
        :obj:`config.output_dir`, takes the folder and restores its
        checkpoint when resuming (raising if the checkpoint belongs to a
        different run). :meth:`fit` calls it; call it first to act between
        the resume checks and training (the example writes its
        configuration file there)."""
        if self._prepared:
            return
        cfg = self.config
        # Each rank draws its own noise inside the model; the epoch's
        # triples come from self.generator, seeded alike on every rank.
        seed_everything((cfg.seed + self.rank) % 2**32)
        self.model.to(self.device)
        if isinstance(self.model, GraphModel):
            self.model.set_graph(self.edge_index)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.sampler = self.optimizer = None
        if not self.closed_form:
            self.sampler = NegativeSampler(self.edge_index, self.num_users,
                                           self.num_items)
            self.optimizer = torch.optim.Adam(
                self.model.parameters(), lr=cfg.lr,
                weight_decay=cfg.weight_decay)
        self._loss = self._loss_function()
        # The run id is rank 0's (a restored run keeps the checkpoint's).
        self.state = TrainState(run_id=distributed.share_from_main(
            uuid.uuid4().hex[:12]))
        if cfg.output_dir is not None:
            try:
                self._start_or_restore()
            except BaseException:
                self._release_folder()
                raise
        if self.state.epoch > 0:
            # Restored: the (possibly new) epoch budget decides whether the
            # run goes on; an early stop stays a stop.
            self.state.finished = (self.state.selection.stopped_early
                                   or self.state.epoch >=
                                   self._epoch_budget())
        self.state.sessions.append({'start_epoch': self.state.epoch,
                                    'epochs': self._epoch_budget()})
        self._prepared = True

    def _loss_function(self) -> Optional[Callable]:
        # model.loss behind DDP in a process group; compiled as a call, not
        # as the model: the state_dict (and so every checkpoint) keeps its
        # keys.
        if self.closed_form:
            return None
        loss = distributed.training_module(self.model, self.device)
        if not self.config.compile:
            return loss
        return torch.compile(loss, dynamic=True)

    def fit(self) -> Dict[str, Any]:
        r"""Trains, selects and tests the model.

        Returns:
            A dict with :obj:`best_epoch`, :obj:`valid` (metrics at the best
            epoch), :obj:`test` (metrics at the best epoch), :obj:`epochs_run`,
            :obj:`epoch_seconds` (training seconds of every epoch, evaluation
            excluded), :obj:`epoch_seconds_median`,
            :obj:`time_to_best_seconds` (training seconds up to and including
            the best epoch), :obj:`stopped_early`, :obj:`history` (one
            record per evaluation: :obj:`epoch`, :obj:`loss` (the evaluated
            epoch's mean of the total and of every named term),
            :obj:`valid`, :obj:`train_seconds`, :obj:`eval_seconds`,
            :obj:`best_epoch`, :obj:`run_id`; the lines of
            :obj:`metrics.jsonl`), :obj:`epoch_losses`, :obj:`run_id`,
            :obj:`sessions` and :obj:`runtime` (device and CPU threads).
        """
        try:
            self.prepare()
            epoch = self.state.epoch
            while not self.state.finished:
                epoch += 1
                if self.closed_form:
                    self._fit_closed_form(epoch)
                else:
                    self._train_epoch(epoch)
                if self.closed_form or epoch % self.config.eval_every == 0 \
                        or epoch == self.config.epochs:
                    self._evaluate_and_select(epoch)
            return self._final_report()
        finally:
            self._prepared = False
            self._release_folder()

    def _release_folder(self) -> None:
        if self._owns_folder:
            self.run_folder.release()
            self.run_folder = None
            self._owns_folder = False

    def _epoch_budget(self) -> int:
        return self.model.num_fits if self.closed_form else self.config.epochs

    def _fit_closed_form(self, epoch: int) -> None:
        # Candidate `epoch - 1` of a closed-form model stands for an epoch.
        start = time.perf_counter()
        self.model.fit(self.edge_index, epoch - 1)
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        state = self.state
        state.epoch_seconds.append(time.perf_counter() - start)
        state.epoch_losses = {}
        state.loss_curve.append({})
        state.epoch = epoch

    def _train_epoch(self, epoch: int) -> None:
        cfg = self.config
        self.model.train()
        start = time.perf_counter()
        rows: List[Tensor] = []
        names: List[str] = []
        running: Optional[Tensor] = None
        batches = self.sampler.epoch_batches(cfg.batch_size, self.generator,
                                             self.rank, self.world_size)
        bar = tqdm(batches, total=self.sampler.num_batches(
            cfg.batch_size, self.world_size), desc=f'epoch {epoch}',
                   disable=not cfg.progress or self.rank != 0, leave=False,
                   dynamic_ncols=True)
        try:
            for step, batch in enumerate(bar, start=1):
                names, values = self._train_step(batch, epoch)
                rows.append(values)
                if cfg.progress and self._check_every_step:
                    running = values if running is None else running + values
                    bar.set_postfix({n: f'{m:.4g}' for n, m in zip(
                        names, (running / step).tolist())}, refresh=False)
        finally:
            bar.close()
        # One host-device synchronisation per epoch (and, on CUDA, the
        # deferred finiteness check of every step).
        table = torch.stack(rows)
        if not self._check_every_step:
            table = self._mean_over_ranks(table)
            self._check_finite(names, table, epoch)
        values = table.tolist()
        sums = [sum(column) for column in zip(*values)]
        state = self.state
        state.epoch_seconds.append(time.perf_counter() - start)
        state.epoch_losses = {n: s / len(values) for n, s in zip(names, sums)}
        state.loss_curve.append(state.epoch_losses)
        state.epoch = epoch

    @property
    def _check_every_step(self) -> bool:
        # On the CPU reading the loss is free: every step is checked before
        # its update. On CUDA it would stall the pipeline once per step, so
        # the steps' values stay on the device until the end of the epoch.
        return self.device.type == 'cpu'

    def _mean_over_ranks(self, values: Tensor) -> Tensor:
        if self.world_size == 1:
            return values
        return distributed.all_reduce_sum(values.clone()) / self.world_size

    def _train_step(self, batch: Any, epoch: int) -> Tuple[List[str],
                                                           Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.config.bf16):
            total, terms = self._loss(batch)
        names, values = self._stack_terms(total, terms)
        if self._check_every_step:
            values = self._mean_over_ranks(values)
            self._check_finite(names, values.view(1, -1), epoch)
        total.backward()
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                           self.config.max_grad_norm)
        self.optimizer.step()
        return names, values

    def _check_finite(self, names: List[str], table: Tensor,
                      epoch: int) -> None:
        r"""Raises if a step's loss values (a row of :obj:`table`, the same
        on every rank) are not finite, naming the first such step's
        non-finite terms."""
        bad_rows = (~torch.isfinite(table[:, 0])).nonzero().view(-1)
        if bad_rows.numel() == 0:
            return
        values = table[int(bad_rows[0])].tolist()
        bad = [n for n, v in zip(names[1:], values[1:])
               if not math.isfinite(v)]
        raise FloatingPointError(
            f"non-finite training loss at epoch {epoch}: total = "
            f"{values[0]}; non-finite term(s): "
            f"{', '.join(bad) if bad else 'none (the sum overflowed)'}"
            f"{self._checkpoint_note()}")

    def _checkpoint_note(self) -> str:
        if self.config.output_dir is None:
            return ''
        path = osp.join(self.config.output_dir, CHECKPOINT_FILE)
        if not self.state.history:
            return (f"; no checkpoint was written yet (the first evaluation "
                    f"is at epoch "
                    f"{min(self.config.eval_every, self.config.epochs)})")
        return (f"; the checkpoint of epoch {self.state.history[-1]['epoch']} "
                f"was kept in '{path}'")

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
        # Each rank scores its own users; the sums are added over the ranks.
        return distributed.sharded_full_rank_metrics(
            user_emb.float(), item_emb.float(), target,
            exclude_edge_index=exclude, ks=self.config.ks,
            batch_size=self.config.eval_batch_size)

    def _evaluate_and_select(self, epoch: int) -> None:
        cfg, state = self.config, self.state
        start = time.perf_counter()
        embeddings = self.embeddings()
        for name, emb in zip(('user', 'item'), embeddings):
            if not bool(torch.isfinite(emb).all()):
                raise FloatingPointError(f"non-finite {name} embeddings at "
                                         f"epoch {epoch} (the model "
                                         f"diverged)")
        valid = self.evaluate(self.val_edge_index, [self.edge_index],
                              embeddings)
        eval_seconds = time.perf_counter() - start
        self.last_valid = valid
        extra = (None if self.on_evaluate is None else self.on_evaluate(
            epoch, *embeddings))
        if cfg.monitor not in valid:
            raise ValueError(f"monitor '{cfg.monitor}' is not among the "
                             f"validation metrics {sorted(valid)}")
        score = valid[cfg.monitor]
        if not math.isfinite(score):
            raise FloatingPointError(f"validation {cfg.monitor} is {score} "
                                     f"at epoch {epoch}")

        state.selection.observe(epoch, valid, cfg.monitor, self.model,
                                cfg.patience)
        state.finished = (state.selection.stopped_early or
                          epoch >= self._epoch_budget())
        record = {
            'epoch': epoch,
            'loss': state.epoch_losses,
            'valid': valid,
            'train_seconds': state.epoch_seconds[-1],
            'eval_seconds': eval_seconds,
            'best_epoch': state.selection.best_epoch,
            'run_id': state.run_id,
        }
        if extra is not None:
            record['extra'] = extra
        state.history.append(record)
        if cfg.output_dir is not None:
            rng_ranks = distributed.gather_objects(
                get_rng_states({'sampler': self.generator}))
            if self.rank == 0:
                # The checkpoint first: metrics.jsonl never runs ahead of it.
                self._save(rng_ranks)
                self.run_folder.write(METRICS_FILE, self._metrics_text())

    def _metrics_text(self) -> str:
        return ''.join(json.dumps(r) + '\n' for r in self.state.history)

    def _final_report(self) -> Dict[str, Any]:
        state, selection = self.state, self.state.selection
        self.model.load_state_dict(selection.best_model)
        test = self.evaluate(self.test_edge_index,
                             [self.edge_index, self.val_edge_index])
        seconds = state.epoch_seconds
        return {
            'best_epoch': selection.best_epoch,
            'valid': selection.best_valid,
            'test': test,
            'epochs_run': state.epoch,
            'epoch_seconds': list(seconds),
            'epoch_seconds_median': statistics.median(seconds),
            'time_to_best_seconds': sum(seconds[:selection.best_epoch]),
            'stopped_early': selection.stopped_early,
            'history': copy.deepcopy(state.history),
            'epoch_losses': copy.deepcopy(state.loss_curve),
            'run_id': state.run_id,
            'sessions': copy.deepcopy(state.sessions),
            'runtime': self._runtime(),
        }

    # Checkpoints and resumption ##############################################

    def _start_or_restore(self) -> None:
        # Rank 0 owns the folder: it reads and checks the checkpoint, and
        # every rank restores what it sends (or raises its error).
        saved, error = None, None
        if self.rank == 0:
            try:
                if self.run_folder is None:
                    self.run_folder = RunFolder(
                        self.config.output_dir).acquire(self.config.resume)
                    self._owns_folder = True
                saved = self._read_checkpoint()
            except Exception as e:  # Raised on every rank below.
                error = e
        saved = distributed.share_from_main(saved, error)
        if saved is not None:
            self._restore(saved)
        if self.rank == 0:
            # metrics.jsonl mirrors the history of the checkpoint: lines
            # written after it by an interrupted run are dropped.
            self.run_folder.write(METRICS_FILE, self._metrics_text())

    def _read_checkpoint(self) -> Optional[Dict[str, Any]]:
        folder = self.run_folder
        path = folder.file(CHECKPOINT_FILE)
        if folder.exists(CHECKPOINT_FILE):
            if not self.config.resume:
                raise FileExistsError(
                    f"'{path}' exists; set resume=True to continue that run "
                    f"or choose another output_dir")
            saved = load_checkpoint(path, map_location='cpu')
            self._check_identity(saved, path)
            return saved
        if self.config.resume:
            warnings.warn(f"nothing to resume in '{folder.path}' (no "
                          f"checkpoint yet): the run starts at epoch 0",
                          stacklevel=4)
        return None

    def _runtime(self) -> Dict[str, Any]:
        # A different CPU thread count changes the rounding of reductions.
        runtime = {'device': str(self.device),
                   'threads': torch.get_num_threads()}
        if self.world_size > 1:
            runtime['world_size'] = self.world_size
        return runtime

    def _identity(self) -> Dict[str, Any]:
        config = self.config.to_dict()
        for name in RESUME_FREE_FIELDS:
            config.pop(name)
        return {
            'config': config,
            'run_info': self.run_info,
            'data': self.fingerprint,
            'model_class': type(self.model).__name__,
            'runtime': self._runtime(),
        }

    def _save(self, rng_ranks: List[Dict[str, Any]]) -> None:
        state = self.state.to_checkpoint()
        state.update(
            self._identity(),
            model=self.model.state_dict(),
            optimizer=(None if self.optimizer is None else
                       self.optimizer.state_dict()),
            rng=rng_ranks[0],
        )
        if self.world_size > 1:
            # Every rank draws its own noise: each one's generators.
            state['rng_ranks'] = rng_ranks
        save_checkpoint(self.run_folder.file(CHECKPOINT_FILE), state)

    def _check_identity(self, saved: Dict[str, Any], path: str) -> None:
        saved_world = (saved.get('runtime') or {}).get('world_size', 1)
        if saved_world != self.world_size:
            raise ValueError(
                f"cannot resume from '{path}': it was written by a run of "
                f"{saved_world} process(es) and this run has "
                f"{self.world_size}; resume with the same number "
                f"(torchrun --nproc_per_node={saved_world}, or no torchrun "
                f"for 1): the shards of every epoch and each process's "
                f"random numbers depend on it")
        differences = []
        for section, now in self._identity().items():
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
            hint = ('; set the same CPU thread count (torch.set_num_threads, '
                    '--threads)' if any('runtime.threads' in d
                                        for d in differences) else '')
            raise ValueError(f"cannot resume from '{path}': the run differs "
                             f"({'; '.join(differences)}); only the epoch "
                             f"budget and the progress display may change "
                             f"on resume{hint}")

    def _restore(self, saved: Dict[str, Any]) -> None:
        path = osp.join(self.config.output_dir, CHECKPOINT_FILE)
        self.state = TrainState.from_checkpoint(saved, path)
        self.model.load_state_dict(saved['model'])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(saved['optimizer'])
        rng = (saved['rng_ranks'][self.rank] if self.world_size > 1 else
               saved['rng'])
        set_rng_states(rng, {'sampler': self.generator})
        selection = self.state.selection
        if selection.best_model is not None:
            selection.best_model = {
                k: v.to(self.device)
                for k, v in selection.best_model.items()
            }

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({type(self.model).__name__}, '
                f'num_users={self.num_users}, num_items={self.num_items}, '
                f'device={self.device})')
