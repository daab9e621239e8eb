r"""One home for every default of a run, and the configuration files that
record it.

* :class:`TrainConfig` (the trainer), :class:`DataConfig` (dataset and
  metadata) and :class:`RunConfig` (process options) are dataclasses; each
  field carries its default and its valid values (a :class:`Spec`), and the
  classes' docstrings are the help texts.
* A model's hyperparameters are the keyword arguments of its constructor,
  read with :func:`inspect.signature` from the registry
  :data:`torch_geometric_infodcl.models.MODELS`: a default is written once,
  in the model. The valid values of a hyperparameter are looked up by its
  name in :func:`hyperparameter_specs` (or inferred from its annotation).

:func:`option_table` turns all of them into one table of :class:`Option`
objects from which :obj:`examples/train_infodcl.py` generates its flags,
:func:`read_config_file` reads a configuration file and :func:`resolve`
merges the defaults, a file and explicit flags into the complete
configuration a run uses and writes (:func:`write_config_file`).

**Configuration files** (YAML, :obj:`.yaml` / :obj:`.yml`, or JSON,
:obj:`.json`) hold one flat mapping whose keys are the option names, i.e.
the CLI's long flags with :obj:`-` replaced by :obj:`_` (:obj:`batch_size`,
:obj:`cl_weight`, :obj:`model`, :obj:`dataset`), and whose values are typed
(:obj:`epochs: 400`, :obj:`lr: 0.002`, :obj:`bf16: false`,
:obj:`metadata: [social, knowledge]`, :obj:`ks: [10, 20, 50]`,
:obj:`raw_dir: null`). A key that is not an option, an option that does not
apply to the file's model, or a value of the wrong type or range is an error
naming the file and the key.
"""
import dataclasses
import difflib
import inspect
import json
import math
import os
import os.path as osp
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from torch_geometric_infodcl.metrics import METRIC_NAMES

METADATA_CHANNELS = ('social', 'knowledge', 'feature')
METADATA_BASES = ('auto', 'pretrained', 'svd', 'lightgcn')
DEFAULT_MODEL = 'infodcl'
# Constructor arguments that carry data, not hyperparameters: the
# experiment supplies them.
MODEL_INPUTS = ('num_users', 'num_items', 'metadata', 'edge_index')
# Short option names kept from earlier versions of the CLI.
OPTION_NAMES = {'num_steps': 'steps', 'num_layers': 'layers'}
# Option names of earlier CLI versions, still accepted as keys and flags:
# name -> (option, value); a value of None passes the given value on, any
# other value is set when the (bool) legacy switch is true.
LEGACY_OPTIONS = {
    'baseline_reg': ('reg_weight', None),
    'no_psnet': ('noise', 'gaussian'),
    'no_balance': ('balance', 'none'),
    'no_propagation': ('propagate', False),
    'no_contrastive': ('contrastive', False),
    'authors_loss': ('duplicate_first_contrastive', True),
    'no_progress': ('progress', False),
}
# Options that may differ when a run is resumed: they change neither the
# computation up to the checkpoint nor the data (which the checkpoint's
# fingerprint checks). A new `epochs` budget ends the run at its last
# checkpoint or extends it.
RESUME_FREE_OPTIONS = ('epochs', 'progress', 'root', 'raw_dir')

_INT = re.compile(r'[+-]?[0-9]+')
_FLOAT = re.compile(r'[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?')


class ConfigError(ValueError):
    r"""Raised for an unknown option, an option that does not apply to the
    chosen model, or an invalid value; the message names its source (a file
    and key, or a flag)."""


# Valid values ################################################################


@dataclass(frozen=True)
class Spec:
    r"""The valid values of one option.

    Args:
        kind (str): :obj:`"int"`, :obj:`"float"`, :obj:`"bool"`,
            :obj:`"str"`, :obj:`"path"`, :obj:`"ints"` (a non-empty tuple of
            distinct ints), :obj:`"strs"` (a list of distinct strings) or
            :obj:`"negatives"` (:obj:`"full"`, :obj:`"in_batch"` or a
            positive int).
        low (float, optional): Lower bound (numbers, elements of
            :obj:`"ints"`). (default: :obj:`None`)
        strict (bool, optional): Whether :obj:`low` itself is excluded.
            (default: :obj:`False`)
        high (int, optional): Exclusive upper bound. (default: :obj:`None`)
        high_text (str, optional): How :obj:`high` is named in errors.
            (default: :obj:`""`)
        choices (tuple, optional): The valid strings (:obj:`"str"`,
            :obj:`"strs"`). (default: :obj:`None`)
        optional (bool, optional): Whether :obj:`None` is valid.
            (default: :obj:`False`)
        item (str, optional): What an element of :obj:`"strs"` is called in
            errors. (default: :obj:`"value"`)
    """
    kind: str
    low: Optional[float] = None
    strict: bool = False
    high: Optional[int] = None
    high_text: str = ''
    choices: Optional[Tuple[str, ...]] = None
    optional: bool = False
    item: str = 'value'


def _got(value: Any) -> str:
    return f'{type(value).__name__} {value!r}'


def _check_int(spec: Spec, value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (got {_got(value)})")
    if spec.low is not None and value < spec.low:
        raise ValueError(f"{name} must be >= {spec.low:g} (got {value})")
    if spec.high is not None and value >= spec.high:
        raise ValueError(f"{name} must be < {spec.high_text or spec.high} "
                         f"(got {value})")
    return value


def _check_float(spec: Spec, value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float (got {_got(value)})")
    if spec.low is None:
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite (got {value})")
    elif not math.isfinite(value) or value < spec.low or (
            spec.strict and value == spec.low):
        bound = f"{'>' if spec.strict else '>='} {spec.low:g}"
        raise ValueError(f"{name} must be finite and {bound} (got {value})")
    return float(value)


def _check_str(spec: Spec, value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str (got {_got(value)})")
    if spec.choices is not None and value not in spec.choices:
        raise ValueError(f"{name} must be one of {', '.join(spec.choices)} "
                         f"(got {value!r})")
    return value


def _check_list(spec: Spec, value: Any, name: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of {spec.item}s "
                        f"(got {_got(value)})")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must be a list of str (got "
                            f"{_got(item)} in it)")
    unknown = [v for v in value if v not in (spec.choices or ())]
    if unknown:
        raise ValueError(f"{name}: unknown {spec.item}(s) {unknown}; "
                         f"valid: {', '.join(spec.choices or ())} or 'none'")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} has duplicates ({list(value)})")
    return list(value)


def check_value(spec: Spec, value: Any, name: str) -> Any:
    r"""Returns :obj:`value` if :obj:`spec` allows it (normalised: a float
    for :obj:`"float"`, a tuple for :obj:`"ints"`, a list for
    :obj:`"strs"`), and raises a :class:`TypeError` or :class:`ValueError`
    whose message starts with :obj:`name` otherwise."""
    if value is None and spec.optional:
        return None
    kind = spec.kind
    if kind == 'int':
        return _check_int(spec, value, name)
    if kind == 'float':
        return _check_float(spec, value, name)
    if kind == 'bool':
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool (got {_got(value)})")
        return value
    if kind == 'str':
        return _check_str(spec, value, name)
    if kind == 'path':
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a path "
                            f"(got {type(value).__name__})")
        return os.fspath(value)
    if kind == 'ints':
        if not isinstance(value, (list, tuple)) or len(value) == 0:
            raise TypeError(f"{name} must be a non-empty tuple of ints "
                            f"(got {value!r})")
        for item in value:
            _check_int(spec, item, name)
        if len(set(value)) != len(value):
            raise ValueError(f"{name} has duplicates ({value})")
        return tuple(value)
    if kind == 'strs':
        return _check_list(spec, value, name)
    if kind == 'negatives':
        if value in ('full', 'in_batch') or (
                isinstance(value, int) and not isinstance(value, bool)
                and value >= 1):
            return value
        raise ValueError(f"{name} must be 'full', 'in_batch' or a positive "
                         f"number of sampled negatives (got {value!r})")
    raise ValueError(f"unknown option kind '{kind}'")


def describe(spec: Spec) -> str:
    r"""Returns what a command-line value of :obj:`spec` must look like."""
    if spec.kind == 'int':
        if spec.low == 1 and spec.high is None:
            return 'a positive integer'
        text = 'an integer'
        if spec.low is not None:
            text += f' >= {spec.low:g}'
        if spec.high is not None:
            text += f' and < {spec.high_text or spec.high}'
        return text
    if spec.kind == 'float':
        if spec.low is None:
            return 'a finite float'
        return f"a float {'>' if spec.strict else '>='} {spec.low:g}"
    if spec.kind == 'ints':
        return 'comma-separated distinct positive integers'
    if spec.kind == 'strs':
        return (f"comma-separated {spec.item}s "
                f"({', '.join(spec.choices or ())}) or 'none'")
    if spec.kind == 'negatives':
        return "'full', 'in_batch' or a positive number of sampled negatives"
    if spec.choices:
        return f"one of {', '.join(spec.choices)}"
    return 'a string'


def parse_text(spec: Spec, text: str) -> Any:
    r"""Parses a command-line value of :obj:`spec` and checks it; raises a
    :class:`ValueError` saying what was expected."""
    expected = ValueError(f'expected {describe(spec)}, got {text}')
    if spec.kind in ('int', 'float'):
        if not (_INT if spec.kind == 'int' else _FLOAT).fullmatch(text):
            raise expected
        value: Any = int(text) if spec.kind == 'int' else float(text)
    elif spec.kind == 'ints':
        parts = text.split(',')
        if not all(_INT.fullmatch(p) for p in parts):
            raise expected
        value = [int(p) for p in parts]
    elif spec.kind == 'strs':
        value = [] if text == 'none' else [p for p in text.split(',') if p]
    elif spec.kind == 'negatives':
        value = int(text) if _INT.fullmatch(text) else text
    else:
        value = text
    try:
        return check_value(spec, value, 'value')
    except (TypeError, ValueError) as e:
        if spec.kind in ('strs', 'negatives'):
            raise ValueError(str(e).replace('value: ', '', 1)) from None
        raise expected from None


def _field(default: Any, kind: str, **spec: Any) -> Any:
    return field(default=default, metadata={'spec': Spec(kind, **spec)})


class _Checked:
    r"""Checks every field of a dataclass against its :class:`Spec` after
    construction."""
    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            spec = f.metadata.get('spec')
            if spec is not None:
                setattr(self, f.name, check_value(
                    spec, getattr(self, f.name),
                    f'{type(self).__name__}.{f.name}'))

    def to_dict(self) -> Dict[str, Any]:
        r"""Returns the fields as JSON-compatible values."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


# The dataclasses #############################################################


@dataclass
class TrainConfig(_Checked):
    r"""Hyperparameters of :class:`~torch_geometric_infodcl.train.Trainer`;
    every field is validated on construction.

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
            :obj:`checkpoint.pt`, owned by the run while it lives (see
            :class:`~torch_geometric_infodcl.run_folder.RunFolder`).
            (default: :obj:`None`)
        resume (bool, optional): Continues from
            :obj:`output_dir/checkpoint.pt` if it exists.
            (default: :obj:`False`)
        max_grad_norm (float, optional): Clips the gradient norm to this
            value. (default: :obj:`None`)
    """
    epochs: int = _field(1000, 'int', low=1)
    batch_size: int = _field(2000, 'int', low=1)
    lr: float = _field(0.005, 'float', low=0, strict=True)
    weight_decay: float = _field(0.0, 'float', low=0)
    eval_every: int = _field(10, 'int', low=1)
    patience: int = _field(5, 'int', low=1)
    monitor: str = _field('recall@20', 'str')
    ks: Tuple[int, ...] = _field((10, 20, 50), 'ints', low=1)
    eval_batch_size: int = _field(2048, 'int', low=1)
    seed: int = _field(2024, 'int', low=0, high=2**32,
                       high_text="2**32 (NumPy's limit)")
    device: str = _field('cpu', 'str')
    bf16: bool = _field(False, 'bool')
    progress: bool = _field(True, 'bool')
    output_dir: Optional[str] = _field(None, 'path', optional=True)
    resume: bool = _field(False, 'bool')
    max_grad_norm: Optional[float] = _field(None, 'float', low=0,
                                            strict=True, optional=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        name, _, k = self.monitor.partition('@')
        if name not in METRIC_NAMES or not k.isdigit() or \
                int(k) not in self.ks:
            raise ValueError(f"TrainConfig.monitor must be '<name>@<k>' with "
                             f"name in {METRIC_NAMES} and k in ks={self.ks} "
                             f"(got '{self.monitor}')")
        self._check_device()
        if self.resume and self.output_dir is None:
            raise ValueError("TrainConfig.resume=True needs an output_dir "
                             "holding the checkpoint")

    def _check_device(self) -> None:
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


@dataclass
class DataConfig(_Checked):
    r"""The dataset of a run and its metadata channels.

    Args:
        dataset (str, optional): :obj:`synthetic`, :obj:`office`,
            :obj:`ml-1m`, :obj:`ml-1m-diffrec`, :obj:`ml-1m-ratings`,
            :obj:`baby`, :obj:`gowalla`, :obj:`taobao`, :obj:`electronics`,
            or a folder of interaction files. (default: :obj:`"synthetic"`)
        root (str, optional): The dataset cache root. (default: :obj:`"data"`)
        raw_dir (str, optional): Read the raw files from this folder instead
            of :obj:`<root>/<name>/raw`. (default: :obj:`None`)
        metadata (list of str, optional): The metadata channels of models
            that take metadata: :obj:`social`, :obj:`knowledge`,
            :obj:`feature` (side features such as ML-1M genres), or none.
            (default: :obj:`["social", "knowledge"]`)
        metadata_base (str, optional): Base embeddings of the metadata:
            :obj:`auto` (the dataset's shipped pretrained :obj:`*_pt.npy`
            when present, else :obj:`svd`), :obj:`pretrained`, :obj:`svd`
            or :obj:`lightgcn`. (default: :obj:`"auto"`)
    """
    dataset: str = _field('synthetic', 'str')
    root: str = _field('data', 'path')
    raw_dir: Optional[str] = _field(None, 'path', optional=True)
    metadata: List[str] = _field(('social', 'knowledge'), 'strs',
                                 choices=METADATA_CHANNELS,
                                 item='metadata channel')
    metadata_base: str = _field('auto', 'str', choices=METADATA_BASES)


@dataclass
class RunConfig(_Checked):
    r"""Options of the process that runs an experiment.

    Args:
        threads (int, optional): The number of torch CPU threads (a different
            count changes the rounding of CPU results); :obj:`None` lets
            torch decide. (default: :obj:`None`)
        reference_protocol (bool, optional): Also reports the authors'
            protocol on test (best test epoch, validation items unmasked,
            batch-averaged; optimistic, for comparison only).
            (default: :obj:`False`)
    """
    threads: Optional[int] = _field(None, 'int', low=1, optional=True)
    reference_protocol: bool = _field(False, 'bool')


# The option table ############################################################


@dataclass(frozen=True)
class Option:
    r"""One option of a run: a field of a config dataclass or a
    hyperparameter of one or more models.

    Args:
        name (str): The option name: the config-file key and the argparse
            :obj:`dest` (flag :obj:`--<name with - for _>`).
        group (str): :obj:`"data"`, :obj:`"model"`, :obj:`"training"` or
            :obj:`"run"`.
        spec (Spec): The valid values on the command line (and for every
            model unless :obj:`specs` says otherwise).
        help (str): The help text.
        defaults (dict): The default per model name (key :obj:`"*"`: every
            model).
        models (tuple of str, optional): The models the option applies to
            (:obj:`None`: every model). (default: :obj:`None`)
        param (str, optional): The constructor argument or dataclass field
            it sets. (default: :obj:`""`, the name)
        specs (dict, optional): The valid values per model, where models
            differ (e.g. different choices of :obj:`noise`).
            (default: :obj:`{}`)
    """
    name: str
    group: str
    spec: Spec
    help: str
    defaults: Mapping[str, Any]
    models: Optional[Tuple[str, ...]] = None
    param: str = ''
    specs: Mapping[str, Spec] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        r"""The command-line flag."""
        return '--' + self.name.replace('_', '-')

    def applies_to(self, model: str) -> bool:
        r"""Whether the option applies to :obj:`model`."""
        return self.models is None or model in self.models

    def default(self, model: str) -> Any:
        r"""The default value for :obj:`model`."""
        return self.defaults.get(model, self.defaults.get('*'))

    def spec_for(self, model: str) -> Spec:
        r"""The valid values for :obj:`model`."""
        return self.specs.get(model, self.spec)


_GREEK = {'\\lambda': '\u03bb', '\\tau': '\u03c4', '\\alpha': '\u03b1',
          '\\beta': '\u03b2', '\\epsilon': '\u03b5', '\\gamma': '\u03b3'}


def docstring_args(obj: Any) -> Dict[str, str]:
    r"""Returns the descriptions of the :obj:`Args:` section of a PyG-style
    docstring, as plain text without the :obj:`(default: ...)` part."""
    doc = inspect.getdoc(obj) or ''
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines)
                     if line.strip() == 'Args:')
    except StopIteration:
        return {}
    entry = re.compile(r'(\w+) \(.*?\):\s*(.*)')
    out: Dict[str, List[str]] = {}
    current: Optional[str] = None
    indent = None
    for line in lines[start + 1:]:
        if not line.strip():
            break
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break
        match = entry.fullmatch(line.strip()) if depth == indent else None
        if match:
            current = match.group(1)
            out[current] = [match.group(2)]
        elif current is not None:
            out[current].append(line.strip())
    result = {}
    for name, parts in out.items():
        text = ' '.join(p for p in parts if p)
        text = re.sub(r'\(default: .*\)\s*$', '', text).strip()
        text = re.sub(r':\w+:`~?([^`]*)`', lambda m: m.group(1).split('.')[
            -1] if m.group(1).startswith('torch') else m.group(1), text)
        for symbol, letter in _GREEK.items():
            text = text.replace(symbol, letter)
        text = re.sub(r'_\{(\w+)\}', r'_\1', text)
        result[name] = text.replace('"', '')
    return result


def _dataclass_options(cls: type, group: str, models: Optional[Tuple[str,
                                                                    ...]],
                       skip: Sequence[str] = ()) -> List[Option]:
    docs = docstring_args(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default
        if isinstance(default, tuple):
            default = list(default)
        out.append(Option(f.name, group, f.metadata['spec'],
                          docs.get(f.name, ''), {'*': default}, models))
    return out


def hyperparameter_spec(cls: type, name: str,
                        annotation: Any) -> Optional[Spec]:
    r"""Returns the :class:`Spec` of the hyperparameter :obj:`name` of the
    model class :obj:`cls`, annotated :obj:`annotation`: from
    :func:`hyperparameter_specs`, else inferred (:obj:`bool`, :obj:`int`,
    :obj:`float` (:obj:`>= 0` for names ending in :obj:`_weight`),
    :obj:`str`, and :obj:`Optional` of them), or :obj:`None` if the
    annotation is not an option type."""
    spec = hyperparameter_specs().get(name)
    if isinstance(spec, dict):
        spec = spec.get(cls)
    if spec is not None:
        return spec
    optional = False
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        annotation, optional = args[0], True
    if annotation is bool:
        return Spec('bool', optional=optional)
    if annotation is int:
        return Spec('int', optional=optional)
    if annotation is float:
        low = 0 if name.endswith('_weight') else None
        return Spec('float', low=low, optional=optional)
    if annotation is str:
        return Spec('str', optional=optional)
    return None


def hyperparameter_specs() -> Dict[str, Any]:
    r"""The valid values of model hyperparameters by argument name: a
    :class:`Spec` shared by every model that uses the name, or a dict
    model class -> :class:`Spec` where models differ (the choices come from
    the modules that define them). Names not listed are inferred from their
    annotation; a model's constructor checks every value again."""
    from torch_geometric_infodcl.models.infodcl import (
        BALANCE_FORMS,
        NOISE_KINDS,
        InfoDCL,
    )
    from torch_geometric_infodcl.nn.diffusion import DENOISERS, SCHEDULES
    return {
        'dim': Spec('int', low=1),
        'num_layers': Spec('int', low=0),
        'train_layers': Spec('int', low=0),
        'num_steps': Spec('int', low=1),
        'tau': Spec('float', low=0, strict=True),
        'init_std': Spec('float', low=0, strict=True),
        'psnet_rank': Spec('int', low=1, optional=True),
        'negatives': Spec('negatives'),
        'schedule': Spec('str', choices=SCHEDULES),
        'denoiser': Spec('str', choices=DENOISERS),
        'balance': Spec('str', choices=BALANCE_FORMS),
        'noise': {InfoDCL: Spec('str', choices=NOISE_KINDS)},
    }


def model_hyperparameters(cls: type) -> Dict[str, inspect.Parameter]:
    r"""Returns the hyperparameters of a model class: the keyword arguments
    of its constructor except the data inputs :data:`MODEL_INPUTS`."""
    params = {}
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if name == 'self' or name in MODEL_INPUTS or p.kind in (
                p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise TypeError(f"{cls.__name__}.__init__ argument '{name}' has "
                            f"no default; every hyperparameter needs one")
        params[name] = p
    return params


def _common_spec(specs: Sequence[Spec]) -> Spec:
    # What the command line accepts for an option whose valid values differ
    # by model; the chosen model's own spec is checked in resolve().
    if all(spec == specs[0] for spec in specs):
        return specs[0]
    kinds = {spec.kind for spec in specs}
    if len(kinds) != 1:
        raise TypeError(f"models type one hyperparameter differently "
                        f"({sorted(kinds)})")
    choices = None
    if all(spec.choices for spec in specs):
        choices = tuple(dict.fromkeys(c for spec in specs
                                      for c in spec.choices))
    return Spec(kinds.pop(), choices=choices,
                optional=any(spec.optional for spec in specs))


def _model_options(models: Mapping[str, type],
                   taken: Mapping[str, Option]) -> List[Option]:
    merged: Dict[str, Dict[str, Any]] = {}
    for model, cls in models.items():
        hints = typing.get_type_hints(cls.__init__)
        docs = docstring_args(cls)
        for param, p in model_hyperparameters(cls).items():
            spec = hyperparameter_spec(cls, param, hints.get(param))
            if spec is None:
                continue  # Not settable from a flag or a file.
            name = OPTION_NAMES.get(param, param)
            if name in taken or name in LEGACY_OPTIONS:
                raise TypeError(f"{cls.__name__} hyperparameter '{param}' "
                                f"clashes with the option '{name}'; rename "
                                f"it")
            entry = merged.setdefault(name, dict(param=param, specs={},
                                                 help=docs.get(param, ''),
                                                 defaults={}))
            if entry['param'] != param:
                raise TypeError(f"{cls.__name__} hyperparameter '{param}' "
                                f"and another model's '{entry['param']}' "
                                f"share the option name '{name}'")
            entry['specs'][model] = spec
            entry['defaults'][model] = check_value(
                spec, p.default, f'{cls.__name__} default {param}')
    options = []
    for name, e in merged.items():
        try:
            common = _common_spec(list(e['specs'].values()))
        except TypeError as error:
            raise TypeError(f"hyperparameter '{e['param']}': "
                            f"{error}") from None
        specs = {} if all(spec == common for spec in e['specs'].values()) \
            else e['specs']
        options.append(Option(name, 'model', common, e['help'],
                              e['defaults'], tuple(e['defaults']),
                              e['param'], specs))
    return options


def _add_training_defaults(models: Mapping[str, type],
                           table: Mapping[str, Option]) -> None:
    # A model class may recommend its own training settings, e.g.
    # `training_defaults = {'lr': 1e-3, 'batch_size': 2048}`.
    for model, cls in models.items():
        for name, value in getattr(cls, 'training_defaults', {}).items():
            option = table.get(name)
            if option is None or option.group != 'training':
                raise TypeError(f"{cls.__name__}.training_defaults: '{name}' "
                                f"is not a training option")
            option.defaults[model] = _plain(check_value(
                option.spec, value, f'{cls.__name__}.training_defaults '
                f'{name}'))


def option_table() -> Dict[str, Option]:
    r"""Returns every option of a run by name, in help order: data, model,
    training, run."""
    from torch_geometric_infodcl.transforms import SimilarityMetadata
    from torch_geometric_infodcl.models import MODELS

    metadata_models = tuple(
        name for name, cls in MODELS.items()
        if 'metadata' in inspect.signature(cls.__init__).parameters)
    options = _dataclass_options(DataConfig, 'data', None,
                                 skip=('metadata', 'metadata_base'))
    options += _dataclass_options(DataConfig, 'data', metadata_models,
                                  skip=('dataset', 'root', 'raw_dir'))
    top_k = inspect.signature(SimilarityMetadata.__init__).parameters['top_k']
    options.append(Option('top_k', 'data', Spec('int', low=1),
                          docstring_args(SimilarityMetadata)['top_k'],
                          {'*': top_k.default}, metadata_models))
    options.append(Option('model', 'model', Spec('str',
                                                 choices=tuple(MODELS)),
                          'The model to train.', {'*': DEFAULT_MODEL}))
    options += _dataclass_options(TrainConfig, 'training', None,
                                  skip=('output_dir', 'resume'))
    options += _dataclass_options(RunConfig, 'run', None)
    table = {opt.name: opt for opt in options}
    _add_training_defaults(MODELS, table)
    model_options = _model_options(MODELS, table)
    # Model options go after 'model', before the training options.
    order = list(table)
    split = order.index('model') + 1
    names = order[:split] + [o.name for o in model_options] + order[split:]
    table.update({o.name: o for o in model_options})
    return {name: table[name] for name in names}


# Merging and files ###########################################################


def _source(where: str, option_name: str, table: Mapping[str, Option],
            from_flags: bool) -> str:
    if from_flags and option_name in table:
        return table[option_name].flag
    return f"{where}: key '{option_name}'"


def _translate(key: Any, value: Any, source: str) -> Tuple[Any, Any]:
    if key not in LEGACY_OPTIONS:
        return key, value
    target, const = LEGACY_OPTIONS[key]
    if const is None:
        return target, value
    if not isinstance(value, bool):
        raise ConfigError(f"{source} must be a bool (got {_got(value)})")
    return (target, const) if value else (None, None)


def resolve(layers: Sequence[Tuple[str, Mapping[str, Any]]],
            flags: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    r"""Merges configuration layers over the defaults and returns the complete
    configuration of the chosen model: every option that applies to it, in
    :func:`option_table` order, with JSON-compatible values. Names of
    :data:`LEGACY_OPTIONS` are translated.

    Args:
        layers (list of (str, dict)): :obj:`(source, values)` pairs (e.g. a
            configuration file's path and its mapping), later ones winning.
        flags (dict, optional): Values given on the command line; they win
            over every layer. (default: :obj:`None`)
    """
    table = option_table()
    given = []
    for where, values, from_flags in [(w, v, False) for w, v in layers] + [
            ('command line', flags or {}, True)]:
        for key, value in values.items():
            source = _source(where, key, table, from_flags)
            key, value = _translate(key, value, source)
            if key is None:
                continue  # A legacy switch set to false.
            if key not in table:
                close = difflib.get_close_matches(str(key), table, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ''
                raise ConfigError(f"{source}: unknown option{hint}")
            given.append((key, value, source))
    try:
        # The model decides which options apply and their valid values.
        model = DEFAULT_MODEL
        for key, value, source in given:
            if key == 'model':
                model = check_value(table['model'].spec, value, source)
        merged: Dict[str, Any] = {}
        for key, value, source in given:
            option = table[key]
            if not option.applies_to(model):
                raise ConfigError(
                    f"{source} does not apply to model '{model}' (it "
                    f"applies to {', '.join(option.models or ())})")
            merged[key] = check_value(option.spec_for(model), value, source)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None
    return {
        name: _plain(merged[name] if name in merged else opt.default(model))
        for name, opt in table.items() if opt.applies_to(model)
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def split_config(config: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    r"""Splits a resolved configuration into the keyword arguments of
    :class:`DataConfig` (:obj:`"data"`, plus :obj:`top_k`), of the model
    constructor (:obj:`"model"`), of :class:`TrainConfig`
    (:obj:`"training"`) and of :class:`RunConfig` (:obj:`"run"`)."""
    table = option_table()
    parts: Dict[str, Dict[str, Any]] = {
        'data': {}, 'model': {}, 'training': {}, 'run': {}
    }
    for name, value in config.items():
        option = table[name]
        if option.group == 'model' and name != 'model':
            parts['model'][option.param] = value
        elif name != 'model':
            parts[option.group][name] = value
    return parts


def read_config_file(path: str) -> Dict[str, Any]:
    r"""Reads a configuration file (:obj:`.yaml`, :obj:`.yml` or
    :obj:`.json`; see the module docstring) and returns its mapping; its
    keys and values are checked by :func:`resolve`."""
    kind = osp.splitext(path)[1].lower()
    if kind not in ('.yaml', '.yml', '.json'):
        raise ConfigError(f"'{path}': unknown configuration format "
                          f"'{kind}' (use .yaml, .yml or .json)")
    with open(path, encoding='utf-8') as f:
        text = f.read()
    if kind == '.json':
        try:
            values = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"'{path}' is not valid JSON: {e}") from None
    else:
        import yaml
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"'{path}' is not valid YAML: "
                              f"{' '.join(str(e).split())}") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"'{path}' must hold a flat mapping of option "
                          f"names to values (got a {type(values).__name__})")
    table = option_table()
    for key, value in values.items():
        # YAML 1.1 reads 1e-4 (no dot) as a string.
        if key in table and table[key].spec.kind == 'float' and isinstance(
                value, str) and _FLOAT.fullmatch(value.strip()):
            values[key] = float(value)
    return values


def format_config(config: Mapping[str, Any], kind: str = '.yaml') -> str:
    r"""Returns the text of a configuration file (:obj:`.yaml` or
    :obj:`.json`) holding :obj:`config`."""
    if kind == '.json':
        return json.dumps(dict(config), indent=2) + '\n'
    import yaml
    header = ('# The configuration of a torch_geometric_infodcl run; repeat '
              'it with\n# python examples/train_infodcl.py --config '
              'config.yaml --output <new folder>\n')
    return header + yaml.safe_dump(dict(config), sort_keys=False,
                                   default_flow_style=None)
