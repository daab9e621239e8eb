r"""Everything `tune.py` searches, in one place: the search space of every
model, the settings it keeps fixed, and the per-dataset training budget of a
trial.

Keys are option names (`torch_geometric_infodcl.options`: the CLI's long
flags with `-` replaced by `_`, e.g. `--reg-weight` is `reg_weight`), so a
tuned configuration is a configuration file of the CLI.
Every model gets the same number of trials (`tune.py --trials`); a trial
trains with the dataset's budget below, is scored by validation Recall@20
only, and is pruned early when its validation curve falls below the median
of earlier trials at the same epoch.
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple


@dataclass(frozen=True)
class Float:
    r"""A float in :obj:`[low, high]`, sampled on a log scale if
    :obj:`log`."""
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or \
                not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"invalid Float range {self}: needs finite "
                             f"low < high (and low > 0 on a log scale)")

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def extremes(self) -> List[float]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Int:
    r"""An int in :obj:`[low, high]`."""
    low: int
    high: int

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"invalid Int range {self}: needs low < high")

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high)

    def extremes(self) -> List[int]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Choice:
    r"""One of :obj:`options`."""
    options: Tuple[Any, ...]

    def __post_init__(self) -> None:
        if len(self.options) == 0:
            raise ValueError("a Choice needs at least one option")

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))

    def extremes(self) -> List[Any]:
        return list(self.options)


@dataclass(frozen=True)
class StudySpec:
    r"""One tunable model: the CLI :obj:`model`, the flags it keeps fixed
    and the flags it searches."""
    model: str
    fixed: Dict[str, Any]
    space: Dict[str, Any]


LR = Float(5e-4, 5e-3, log=True)
L2 = Float(1e-5, 1e-3, log=True)
LAYERS = Choice((1, 2, 3))
BATCH = Choice((1024, 2048, 4096))
CONTRAST = dict(cl_weight=Float(0.01, 1.0, log=True), eps=Float(0.05, 0.3),
                tau=Float(0.1, 0.5))

STUDIES: Dict[str, StudySpec] = {
    'lightgcn': StudySpec(
        model='lightgcn', fixed=dict(dim=64),
        space=dict(lr=LR, reg_weight=L2, layers=LAYERS, batch_size=BATCH)),
    'simgcl': StudySpec(
        model='simgcl', fixed=dict(dim=64),
        space=dict(lr=LR, reg_weight=L2, layers=LAYERS, batch_size=BATCH,
                   **CONTRAST)),
    # Its own study (same budget): one perturbed propagation, contrast of
    # the final embedding with layer 1.
    'xsimgcl': StudySpec(
        model='xsimgcl', fixed=dict(dim=64, cl_layer=1),
        space=dict(lr=LR, reg_weight=L2, layers=LAYERS, batch_size=BATCH,
                   **CONTRAST)),
    # One closed-form fit per trial: the L2 weight is its only parameter.
    'ease': StudySpec(
        model='ease', fixed={},
        space=dict(l2_weight=Float(10.0, 5000.0, log=True))),
    # InfoDCL trained with the graph: the cosine sampled softmax on the
    # propagated embeddings, plus PSNet-noise views of them (relative
    # magnitude eps) when cl_weight > 0. The contrast's weight includes 0
    # (its default): on Office and Baby the views did not improve validation
    # Recall@20, so whether they pay off is part of the search, as are the
    # denoiser and a second noisy view.
    'graph-infodcl': StudySpec(
        model='graph-infodcl',
        fixed=dict(dim=64, noise='psnet', rec_loss='softmax', skip_ego=True,
                   negatives=1024),
        space=dict(lr=LR, reg_weight=L2, layers=LAYERS, batch_size=BATCH,
                   rec_tau=Float(0.1, 0.5),
                   cl_weight=Choice((0.0, 0.01, 0.03, 0.1, 0.3)),
                   eps=Float(0.1, 1.0), tau=Float(0.1, 0.5),
                   denoise=Choice((True, False)), num_views=Choice((1, 2)))),
}

# Per-dataset overrides of a study's space: ML-1M's full-graph propagation
# (one per step) needs larger batches, with learning rates to match, to fit
# its studies into a session on 2 CPU cores.
SPACE_OVERRIDES: Dict[Tuple[str, str], Dict[str, Any]] = {
    (dataset, name): dict(batch_size=Choice((8192, 16384)),
                          lr=Float(1e-3, 1e-2, log=True))
    for dataset in ('ml-1m', )
    for name in ('lightgcn', 'simgcl', 'xsimgcl', 'graph-infodcl')
}

# The training budget of one trial (CLI dest names): the epoch cap, the
# evaluation period and the patience in evaluations.
BUDGETS: Dict[str, Dict[str, int]] = {
    'office': dict(epochs=200, eval_every=5, patience=4),
    'baby': dict(epochs=200, eval_every=5, patience=4),
    'ml-1m': dict(epochs=100, eval_every=2, patience=3),
}
DEFAULT_BUDGET = dict(epochs=100, eval_every=5, patience=4)


def study_spec(name: str, dataset: str) -> StudySpec:
    r"""Returns the study :obj:`name` with the overrides of
    :obj:`dataset`."""
    if name not in STUDIES:
        raise ValueError(f"no search space for model '{name}' "
                         f"(known: {', '.join(STUDIES)})")
    spec = STUDIES[name]
    space = dict(spec.space)
    space.update(SPACE_OVERRIDES.get((dataset, name), {}))
    return StudySpec(spec.model, dict(spec.fixed), space)


def budget(dataset: str) -> Dict[str, int]:
    r"""Returns the per-trial training budget of :obj:`dataset`."""
    return dict(BUDGETS.get(dataset, DEFAULT_BUDGET))


def describe(space: Dict[str, Any]) -> Dict[str, Any]:
    r"""A JSON-compatible description of a search space (stored with the
    study to recognise it)."""
    out = {}
    for name, dist in sorted(space.items()):
        kind = type(dist).__name__
        if isinstance(dist, Choice):
            out[name] = [kind, list(dist.options)]
        elif isinstance(dist, Float):
            out[name] = [kind, dist.low, dist.high, dist.log]
        else:
            out[name] = [kind, dist.low, dist.high]
    return out
