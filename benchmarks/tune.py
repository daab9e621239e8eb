r"""Hyper-parameter search with Optuna, the same protocol for every model.

One study per (dataset, model), stored in a SQLite file so that a killed
search resumes where it stopped::

    python benchmarks/tune.py --dataset office --raw-dir ../shared/data/office --model lightgcn --trials 16

- Objective: the best validation Recall@20 of the trial (train items
  masked); no test number is read, stored or printed.
- TPE sampler with a fixed seed (offset by the number of trials already in
  the study, so a resumed search does not replay its first proposals),
  median pruning on the validation Recall@20 reported at every evaluation.
- Budget: :obj:`--trials` counts completed, pruned and failed trials, so a
  resumed search continues to the same total; a trial interrupted by a kill
  is marked failed (user attribute :obj:`interrupted`) and not counted. A
  diverged trial (non-finite loss or metric, :class:`FloatingPointError`)
  is recorded as failed and the search goes on.
- Search spaces, fixed settings and per-dataset training budgets:
  :obj:`benchmarks/search_spaces.py`.
- Output: :obj:`<studies>/<dataset>/<model>.db` (the study) and, after every
  run, :obj:`<configs>/<dataset>/<model>.yaml` (the best trial's complete
  configuration: every option of the model, runnable as
  :obj:`python examples/train_infodcl.py --config FILE`) with
  :obj:`<model>_trials.csv` (every trial) beside it.

Trials run in this process (data loaded once), through the same path as the
CLI: a configuration resolved by :func:`~torch_geometric_infodcl.options.
resolve` (the same checks and defaults), the model from
:func:`~torch_geometric_infodcl.experiment.build_experiment`, and
:class:`~torch_geometric_infodcl.train.Trainer`.
"""
import argparse
import csv
import io
import json
import os
import os.path as osp
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

# The package first: it sets OpenMP's waiting default before torch loads
# (torch_geometric_infodcl/openmp.py; README, "Runs side by side").
import torch_geometric_infodcl  # noqa: F401

import optuna
import torch
from optuna.trial import TrialState

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import search_spaces  # noqa: E402
from common import repo_relative, write_text  # noqa: E402

from torch_geometric_infodcl.config import TrainConfig  # noqa: E402
from torch_geometric_infodcl.experiment import (  # noqa: E402
    build_experiment,
    load_data,
)
from torch_geometric_infodcl.options import (  # noqa: E402
    format_config,
    resolve,
    split_config,
)
from torch_geometric_infodcl.train import Trainer  # noqa: E402

MONITOR = 'recall@20'
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
# Options that describe this machine or the display, not the run: given by
# the tuner's own flags and left out of the exported configuration.
MACHINE_OPTIONS = ('root', 'threads', 'device', 'progress')


def dataset_key(dataset: str) -> str:
    r"""The name a dataset's studies and configs are filed under."""
    return osp.basename(osp.normpath(dataset)) if osp.isdir(dataset) \
        else dataset


class Tuner:
    r"""Runs one study: (dataset, model) with its search space."""
    def __init__(self, args: argparse.Namespace,
                 spec: Optional[search_spaces.StudySpec] = None) -> None:
        self.args = args
        self.key = dataset_key(args.dataset)
        self.spec = spec or search_spaces.study_spec(args.model, self.key)
        self.budget = search_spaces.budget(self.key)
        for name in ('epochs', 'eval_every', 'patience'):
            if getattr(args, name) is not None:
                self.budget[name] = getattr(args, name)
        base = self.settings({})
        self.data, self.raw_dir = load_data(base['dataset'], base['root'],
                                            base['raw_dir'], base['format'])
        self.check_space()

    # Configurations ##########################################################

    def run_config(self, params: Dict[str, Any]) -> Dict[str, Any]:
        r"""The options a trial sets (option names, i.e. CLI dest names);
        every other option takes the model's default."""
        config = dict(dataset=self.args.dataset)
        if self.args.raw_dir is not None:
            config['raw_dir'] = self.args.raw_dir
        if self.args.format != 'auto':
            config['format'] = self.args.format
        config.update(model=self.spec.model, **self.spec.fixed,
                      **self.budget, seed=self.args.seed)
        config.update(params)
        return config

    def settings(self, params: Dict[str, Any]) -> Dict[str, Any]:
        r"""The complete, checked configuration of a trial (as the CLI
        resolves it: a bad key or value is a
        :class:`~torch_geometric_infodcl.options.ConfigError` naming it)."""
        machine = dict(root=self.args.root, threads=self.args.threads,
                       device=self.args.device, progress=False)
        return resolve([('tune.py', self.run_config(params))], machine)

    def build(self, settings: Dict[str, Any]
              ) -> Tuple[torch.nn.Module, TrainConfig]:
        model, _ = build_experiment(settings, self.data, self.raw_dir)
        return model, TrainConfig(**split_config(settings)['training'])

    def check_space(self) -> None:
        r"""Builds the model and training configuration at both ends of every
        range (and every option) of the space with the CLI's and the model's
        own checks, so that an entry outside a parameter's valid range fails
        here, naming it, not in trial 37."""
        # One entry at a time, the other options at the model's defaults.
        for name, dist in self.spec.space.items():
            for value in dist.extremes():
                try:
                    self.build(self.settings({name: value}))
                except (ValueError, TypeError) as e:
                    raise ValueError(
                        f"search space of '{self.args.model}': {name} = "
                        f"{value!r} is outside its valid range ({e})") \
                        from None

    # The study ###############################################################

    def identity(self) -> Dict[str, Any]:
        return dict(dataset=self.key, model=self.args.model,
                    cli_model=self.spec.model,
                    search_space=search_spaces.describe(self.spec.space),
                    fixed=self.spec.fixed, budget=self.budget,
                    seed=self.args.seed)

    def study_path(self) -> str:
        return osp.join(self.args.studies, self.key,
                        f'{self.args.model}.db')

    def open_study(self) -> optuna.Study:
        path = self.study_path()
        os.makedirs(osp.dirname(path), exist_ok=True)
        storage = optuna.storages.RDBStorage(f'sqlite:///{path}')
        name = f'{self.key}/{self.args.model}'
        others = [other for other in optuna.get_all_study_names(storage)
                  if other != name]
        if others:
            raise ValueError(f"'{path}' holds the study {others[0]!r}, not "
                             f"{name!r}: a study file from another dataset "
                             f"or model")
        study = optuna.create_study(
            storage=storage, study_name=name, direction='maximize',
            load_if_exists=True)
        self.check_identity(study, path)
        self.close_interrupted(study, storage)
        study.sampler = optuna.samplers.TPESampler(
            seed=self.args.seed + len(study.trials),
            n_startup_trials=self.args.startup_trials)
        study.pruner = optuna.pruners.MedianPruner(
            n_startup_trials=self.args.startup_trials,
            n_warmup_steps=self.warmup_epochs())
        return study

    def warmup_epochs(self) -> int:
        if self.args.prune_after is not None:
            return self.args.prune_after
        return self.budget['epochs'] // 4

    def check_identity(self, study: optuna.Study, path: str) -> None:
        identity = json.loads(json.dumps(self.identity()))
        stored = study.user_attrs
        if not stored:
            for key, value in identity.items():
                study.set_user_attr(key, value)
            return
        differences = [f"{key}: stored {stored.get(key)!r}, now {value!r}"
                       for key, value in identity.items()
                       if stored.get(key) != value]
        if differences:
            raise ValueError(f"'{path}' is a different study "
                             f"({'; '.join(differences)}); resume it with "
                             f"the same settings or use another --studies "
                             f"folder")

    @staticmethod
    def close_interrupted(study: optuna.Study,
                          storage: optuna.storages.BaseStorage) -> None:
        # One search runs per study file at a time: a trial still marked
        # running was killed with its process.
        for trial in study.get_trials(deepcopy=False,
                                      states=(TrialState.RUNNING, )):
            storage.set_trial_user_attr(trial._trial_id, 'interrupted', True)
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)

    @staticmethod
    def counted_trials(study: optuna.Study) -> List[optuna.trial.FrozenTrial]:
        r"""The trials that count towards the budget, in the order run."""
        return sorted((t for t in study.get_trials(deepcopy=False,
                                                   states=COUNTED)
                       if not t.user_attrs.get('interrupted')),
                      key=lambda t: t.number)

    @staticmethod
    def counted(study: optuna.Study) -> int:
        return len(Tuner.counted_trials(study))

    def budget_trials(self, study: optuna.Study
                      ) -> List[optuna.trial.FrozenTrial]:
        r"""The first :obj:`--trials` counted trials: what a study with this
        budget has seen, also when the file holds more (so every model can
        be compared at one budget)."""
        return self.counted_trials(study)[:self.args.trials]

    # Trials ##################################################################

    def objective(self, trial: optuna.Trial) -> float:
        params = {name: dist.suggest(trial, name)
                  for name, dist in self.spec.space.items()}
        model, config = self.build(self.settings(params))
        trainer: List[Trainer] = []

        def on_evaluate(epoch, user_emb, item_emb):
            value = trainer[0].last_valid[MONITOR]
            trial.report(value, epoch)
            if trial.should_prune():
                trial.set_user_attr('pruned_at_epoch', epoch)
                raise optuna.TrialPruned(f'validation {MONITOR} {value:.4f} '
                                         f'at epoch {epoch}')

        trainer.append(Trainer(model, self.data, config,
                               on_evaluate=on_evaluate))
        try:
            result = trainer[0].fit()
        except FloatingPointError as e:
            trial.set_user_attr('fail_reason', str(e)[:500])
            raise
        trial.set_user_attr('best_epoch', result['best_epoch'])
        trial.set_user_attr('epochs_run', result['epochs_run'])
        trial.set_user_attr('time_to_best_seconds',
                            result['time_to_best_seconds'])
        trial.set_user_attr('valid', result['valid'])
        # result['test'] is deliberately dropped: selection sees validation.
        return result['valid'][MONITOR]

    def log_trial(self, study: optuna.Study,
                  trial: optuna.trial.FrozenTrial) -> None:
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        value = '-' if trial.value is None else f'{trial.value:.4f}'
        note = trial.user_attrs.get('fail_reason', '')
        if 'pruned_at_epoch' in trial.user_attrs:
            note = f"pruned at epoch {trial.user_attrs['pruned_at_epoch']}"
        print(f"[{time.strftime('%H:%M:%S')}] trial {trial.number} "
              f"{trial.state.name.lower()} valid {MONITOR} {value} "
              f"best_epoch {trial.user_attrs.get('best_epoch', '-')} "
              f"{seconds:.0f}s {trial.params} {note}".rstrip(), flush=True)

    def run(self, enqueue: Optional[List[Dict[str, Any]]] = None
            ) -> optuna.Study:
        r"""Runs the study up to :obj:`--trials` counted trials and exports
        the best configuration and the trial table."""
        torch.set_num_threads(self.args.threads)
        study = self.open_study()
        for params in enqueue or []:
            study.enqueue_trial(params)
        remaining = self.args.trials - self.counted(study)
        print(f"study {self.study_path()}: {self.counted(study)} of "
              f"{self.args.trials} trials done, {max(remaining, 0)} to run",
              flush=True)
        if remaining > 0:
            study.optimize(self.objective, n_trials=remaining,
                           catch=(FloatingPointError, ),
                           callbacks=[self.log_trial])
        self.export(study)
        return study

    # Export ##################################################################

    def export(self, study: optuna.Study) -> None:
        folder = osp.join(self.args.configs, self.key)
        trials = study.get_trials(deepcopy=False)
        write_text(osp.join(folder, f'{self.args.model}_trials.csv'),
                     self.trial_table(trials))
        budget = self.budget_trials(study)
        complete = [t for t in budget if t.state == TrialState.COMPLETE]
        if not complete:
            print('no completed trial: no configuration exported',
                  flush=True)
            return
        best = max(complete, key=lambda t: t.value)
        path = osp.join(folder, f'{self.args.model}.yaml')
        write_text(path, self.config_text(best, budget))
        print(f'wrote {path} (best validation {MONITOR} {best.value:.4f} '
              f'of the first {len(budget)} trials, trial {best.number})',
              flush=True)

    def config_text(self, best: optuna.trial.FrozenTrial,
                    trials: List[optuna.trial.FrozenTrial]) -> str:
        config = {name: value
                  for name, value in self.settings(best.params).items()
                  if name not in MACHINE_OPTIONS}
        if osp.isdir(config['dataset']):
            config['dataset'] = repo_relative(config['dataset'])
        if config['raw_dir'] is not None:
            config['raw_dir'] = repo_relative(config['raw_dir'])
        states = {state: sum(t.state == state for t in trials)
                  for state in COUNTED}
        header = (
            f"# Best of the first {len(trials)} trials of "
            f"benchmarks/tune.py "
            f"({states[TrialState.COMPLETE]} complete, "
            f"{states[TrialState.PRUNED]} pruned, "
            f"{states[TrialState.FAIL]} failed): trial {best.number}, "
            f"validation {MONITOR} {best.value:.4f} at epoch "
            f"{best.user_attrs.get('best_epoch')}.\n"
            f"# Chosen on validation {MONITOR} only. Paths are relative to "
            f"the repository root; run from there:\n"
            f"#   python examples/train_infodcl.py --config "
            f"benchmarks/configs/{self.key}/{self.args.model}.yaml "
            f"--output <folder>\n")
        return header + format_config(config)

    def trial_table(self, trials: List[optuna.trial.FrozenTrial]) -> str:
        params = sorted(self.spec.space)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator='\n')
        writer.writerow(['trial', 'state', f'valid_{MONITOR}', 'best_epoch',
                         'epochs_run', 'seconds', *params, 'note'])
        for t in trials:
            note = ('interrupted' if t.user_attrs.get('interrupted') else
                    t.user_attrs.get('fail_reason', ''))
            if 'pruned_at_epoch' in t.user_attrs:
                note = f"pruned at epoch {t.user_attrs['pruned_at_epoch']}"
            writer.writerow([
                t.number, t.state.name.lower(),
                '' if t.value is None else f'{t.value:.6f}',
                t.user_attrs.get('best_epoch', ''),
                t.user_attrs.get('epochs_run', ''),
                f'{t.duration.total_seconds():.1f}' if t.duration else '',
                *[t.params.get(name, '') for name in params], note
            ])
        return out.getvalue()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--dataset', required=True,
                   help='a dataset name of the CLI or a folder')
    p.add_argument('--raw-dir', default=None)
    p.add_argument('--root', default='data', help='dataset cache root')
    p.add_argument('--format', default='auto',
                   help="file format of a folder dataset, as the CLI's "
                   '--format (default: detected)')
    p.add_argument('--model', required=True,
                   choices=sorted(search_spaces.STUDIES))
    p.add_argument('--trials', type=int, required=True,
                   help='total trials of the study (complete + pruned + '
                   'failed), the same for every model; a study file holding '
                   'more exports the best of its first N')
    p.add_argument('--seed', type=int, default=2024,
                   help='training seed of every trial; the sampler seed is '
                   'this plus the number of trials already run')
    p.add_argument('--startup-trials', type=int, default=5,
                   help='random trials before TPE, and trials before '
                   'pruning starts')
    p.add_argument('--prune-after', type=int, default=None,
                   help='epochs before a trial can be pruned (default: a '
                   'quarter of the epoch cap)')
    p.add_argument('--epochs', type=int, default=None,
                   help='epoch cap per trial (default: per dataset, '
                   'search_spaces.BUDGETS)')
    p.add_argument('--eval-every', type=int, default=None)
    p.add_argument('--patience', type=int, default=None)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--device', default='auto')
    p.add_argument('--studies', default=osp.join(ROOT, 'benchmarks',
                                                 'studies'),
                   help='folder of the study files (<dataset>/<model>.db)')
    p.add_argument('--configs', default=osp.join(ROOT, 'benchmarks',
                                                 'configs'),
                   help='folder of the exported configurations')
    args = p.parse_args(argv)
    for name in ('trials', 'startup_trials', 'threads'):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    for name in ('epochs', 'eval_every', 'patience', 'prune_after'):
        value = getattr(args, name)
        if value is not None and value < (0 if name == 'prune_after' else 1):
            p.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv: Optional[List[str]] = None,
         spec: Optional[search_spaces.StudySpec] = None,
         enqueue: Optional[List[Dict[str, Any]]] = None) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args = parse_args(argv)
    return Tuner(args, spec).run(enqueue)


if __name__ == '__main__':
    try:
        main()
    except (ValueError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
