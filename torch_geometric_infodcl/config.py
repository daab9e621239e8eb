r"""The dataclasses every default of a run lives in: :class:`TrainConfig`
(the trainer), :class:`DataConfig` (dataset and metadata) and
:class:`RunConfig` (process options). Each field carries its default and its
valid values (a :class:`Spec`, checked on construction by
:func:`check_value`); the classes' docstrings are the help texts. A model's
hyperparameters live in its constructor; :mod:`torch_geometric_infodcl.
options` turns both into the options of the CLI and of configuration files.
"""
import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch

from torch_geometric_infodcl.datasets.layouts import FORMATS
from torch_geometric_infodcl.metrics import METRIC_NAMES

METADATA_CHANNELS = ('social', 'knowledge', 'feature')
METADATA_BASES = ('auto', 'pretrained', 'svd', 'lightgcn')

_INT = re.compile(r'[+-]?[0-9]+')
_FLOAT = re.compile(r'[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?')


# Valid values ################################################################


@dataclass(frozen=True)
class Spec:
    r"""The valid values of one option.

    Args:
        kind (str): :obj:`"int"`, :obj:`"float"`, :obj:`"bool"`,
            :obj:`"str"`, :obj:`"path"`, :obj:`"ints"` (a non-empty tuple of
            distinct ints), :obj:`"floats"` (a float, or a non-empty list of
            floats: candidates), :obj:`"strs"` (a list of distinct strings) or
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
    if kind == 'floats':
        if isinstance(value, (list, tuple)):
            if len(value) == 0:
                raise TypeError(f"{name} must be a float or a non-empty list "
                                f"of floats (got {value!r})")
            return [_check_float(spec, item, name) for item in value]
        return _check_float(spec, value, name)
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
    if spec.kind in ('float', 'floats'):
        if spec.low is None:
            text = 'a finite float'
        else:
            text = f"a float {'>' if spec.strict else '>='} {spec.low:g}"
        return text + (' or comma-separated such floats'
                       if spec.kind == 'floats' else '')
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
    elif spec.kind == 'floats':
        parts = text.split(',')
        if not all(_FLOAT.fullmatch(p) for p in parts):
            raise expected
        value = [float(p) for p in parts] if len(parts) > 1 else \
            float(parts[0])
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
        compile (bool, optional): Compiles the model's loss with
            :func:`torch.compile` (inductor, dynamic shapes); the first
            steps pay the compilation. (default: :obj:`False`)
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
    compile: bool = _field(False, 'bool')
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
        format (str, optional): The file format of a folder (or of the text
            splits of office, gowalla, ml-1m): :obj:`auto` (detected from
            the files) or one of
            :data:`~torch_geometric_infodcl.datasets.FORMATS`.
            (default: :obj:`"auto"`)
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
    format: str = _field('auto', 'str', choices=('auto', ) + FORMATS)
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
