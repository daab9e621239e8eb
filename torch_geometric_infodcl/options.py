r"""The options of a run, generated from the defaults' one home, and the
configuration files that record them.

* The fields of :class:`~torch_geometric_infodcl.config.DataConfig`,
  :class:`~torch_geometric_infodcl.config.TrainConfig` and
  :class:`~torch_geometric_infodcl.config.RunConfig`.
* A model's hyperparameters: the keyword arguments of its constructor, read
  with :func:`inspect.signature` from the registry
  :data:`torch_geometric_infodcl.models.MODELS`, so that a default is
  written once, in the model; a model class may recommend training settings
  in a :obj:`training_defaults` dict. The valid values of a hyperparameter
  are looked up by name in :func:`hyperparameter_specs` (or inferred from
  its annotation).

:func:`option_table` turns them into one table of :class:`Option` objects
from which :obj:`examples/train_infodcl.py` generates its flags, help texts
and checks; :func:`read_config_file` reads a configuration file,
:func:`resolve` merges the defaults, files and explicit flags into the
complete configuration a run uses, and :func:`format_config` writes it.

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
import os.path as osp
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from torch_geometric_infodcl.config import (
    DataConfig,
    RunConfig,
    Spec,
    TrainConfig,
    check_value,
    parse_text,
)

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
RESUME_FREE_OPTIONS = ('epochs', 'progress', 'root', 'raw_dir', 'format')



class ConfigError(ValueError):
    r"""Raised for an unknown option, an option that does not apply to the
    chosen model, or an invalid value; the message names its source (a file
    and key, or a flag)."""


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
    from torch_geometric_infodcl.models.graph_infodcl import (
        NOISE_KINDS as GRAPH_NOISE_KINDS,
        REC_LOSSES,
        GraphInfoDCL,
    )
    from torch_geometric_infodcl.nn.diffusion import DENOISERS, SCHEDULES
    return {
        'dim': Spec('int', low=1),
        'eps': Spec('float', low=0),
        'cl_layer': Spec('int', low=1),
        'l2_weight': Spec('floats', low=0, strict=True),
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
        'noise': {InfoDCL: Spec('str', choices=NOISE_KINDS),
                  GraphInfoDCL: Spec('str', choices=GRAPH_NOISE_KINDS)},
        'rec_tau': Spec('float', low=0, strict=True),
        'rec_loss': Spec('str', choices=REC_LOSSES),
        'num_views': Spec('int', low=1, high=3),
        'psnet_layers': Spec('int', low=1),
        'cl_nodes': Spec('int', low=1, optional=True),
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
                                  skip=('dataset', 'root', 'raw_dir',
                                        'format'))
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
        raise ConfigError(f"{source} must be a bool (got "
                          f"{type(value).__name__} {value!r})")
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
        if key in table and table[key].spec.kind in ('float', 'floats') \
                and isinstance(value, str):
            try:
                values[key] = parse_text(Spec(table[key].spec.kind),
                                         value.strip())
            except ValueError:
                pass  # resolve() names the key and the expected type.
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
