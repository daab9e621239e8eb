r"""Glue shared by :obj:`examples/train_infodcl.py`,
:obj:`examples/recommend.py` and the benchmarks: load a dataset, build its
metadata channels and construct a registered model for it from a resolved
configuration (:func:`torch_geometric_infodcl.options.resolve`)."""
import argparse
import inspect
import os.path as osp
import sys
import time
from typing import (
    Any,
    Callable,
    Dict,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import torch
from torch_geometric import seed_everything
from torch_geometric.data import HeteroData

from torch_geometric_infodcl.checkpoint import load_checkpoint
from torch_geometric_infodcl.config import METADATA_CHANNELS, TrainConfig
from torch_geometric_infodcl.datasets import (
    FileDataset,
    InteractionFolder,
    RecommenderDataset,
)
from torch_geometric_infodcl.metrics import full_rank_metrics
from torch_geometric_infodcl.models import MODELS, EASEFusion
from torch_geometric_infodcl.models.fusion import FUSION_GRID
from torch_geometric_infodcl.models.protocol import GraphModel
from torch_geometric_infodcl.options import (
    RESUME_FREE_OPTIONS,
    read_config_file,
    resolve,
    split_config,
)
from torch_geometric_infodcl.run_folder import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    RunFolder,
    RunFolderBusyError,
)
from torch_geometric_infodcl.train import Trainer, edge_hash
from torch_geometric_infodcl.transforms import SimilarityMetadata
from torch_geometric_infodcl.typing import EDGE_TYPE

PRETRAINED_FILES = ('uEmbeds_pt.npy', 'iEmbeds_pt.npy')


def load_data(dataset: str, root: str, raw_dir: Optional[str] = None,
              format: str = 'auto') -> Tuple[HeteroData, Optional[str]]:
    r"""Loads :obj:`dataset` (a name or a folder) and returns the
    :class:`HeteroData` and the folder its raw files were read from
    (:obj:`None` for generated data).
    :obj:`format` (``'auto'`` or one of
    :data:`~torch_geometric_infodcl.datasets.FORMATS`) is passed to the
    datasets that take it (a folder, and the text splits of Office, Gowalla
    and ML-1M)."""
    options = {} if format == 'auto' else {'format': format}
    if osp.isdir(dataset) and raw_dir is None:
        ds = InteractionFolder(root, dataset, **options)
    else:
        ds = RecommenderDataset(root, dataset, raw_dir=raw_dir, **options)
    return ds[0], ds.raw_dir if isinstance(ds, FileDataset) else None


def pretrained_base(raw_dir: Optional[str]) -> Optional[Tuple[str, str]]:
    r"""Returns the paths of pretrained (user, item) base embeddings shipped
    with a dataset (the authors' Office :obj:`*_pt.npy`), if present."""
    if raw_dir is None:
        return None
    paths = tuple(osp.join(raw_dir, name) for name in PRETRAINED_FILES)
    return paths if all(osp.isfile(p) for p in paths) else None


def resolve_base(base: str, raw_dir: Optional[str]) -> Any:
    r"""Maps the :obj:`metadata_base` option to a
    :class:`SimilarityMetadata` :obj:`base` argument."""
    if base in ('auto', 'pretrained'):
        paths = pretrained_base(raw_dir)
        if paths is not None:
            return paths
        if base == 'pretrained':
            raise FileNotFoundError(
                f"--metadata-base pretrained needs {PRETRAINED_FILES} in "
                f"'{raw_dir}'")
        return 'svd'
    return base


def build_metadata(data: HeteroData, channels: Sequence[str], base: Any,
                   dim: int, top_k: int,
                   seed: int = 0) -> Dict[str, torch.Tensor]:
    r"""Computes the metadata tensors of the requested channels."""
    unknown = set(channels) - set(METADATA_CHANNELS)
    if unknown:
        raise ValueError(f"Unknown metadata channel(s) {sorted(unknown)} "
                         f"(valid: {METADATA_CHANNELS})")
    if not channels:
        return {}
    transform = SimilarityMetadata(top_k=top_k, base=base, dim=dim,
                                   feature_channel='feature' in channels,
                                   seed=seed)
    data = transform(data.clone())
    return {c: data['item'][f'{c}_metadata'] for c in channels}


def build_model(kind: str, data: HeteroData,
                metadata: Optional[Dict[str, torch.Tensor]] = None,
                **kwargs: Any) -> torch.nn.Module:
    r"""Builds the registered model :obj:`kind` (a key of
    :data:`torch_geometric_infodcl.models.MODELS`) for the sizes of
    :obj:`data` with the hyperparameters :obj:`kwargs`. A constructor
    argument :obj:`metadata` receives :obj:`metadata`; a constructor
    argument :obj:`edge_index` receives the training edges unless the model
    takes them through :meth:`set_graph` from the trainer."""
    if kind not in MODELS:
        raise ValueError(f"Unknown model '{kind}' (valid: "
                         f"{', '.join(MODELS)})")
    cls = MODELS[kind]
    params = inspect.signature(cls.__init__).parameters
    inputs: Dict[str, Any] = {}
    if 'metadata' in params:
        inputs['metadata'] = metadata or None
    elif metadata:
        raise ValueError(f"model '{kind}' takes no metadata")
    if 'edge_index' in params and not issubclass(cls, GraphModel):
        inputs['edge_index'] = data[EDGE_TYPE].edge_index
    return cls(data['user'].num_nodes, data['item'].num_nodes, **inputs,
               **kwargs)


def build_experiment(config: Mapping[str, Any], data: HeteroData,
                     raw_dir: Optional[str]
                     ) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    r"""Builds the metadata and the model of a resolved configuration and
    returns the model and a dict with :obj:`metadata_base` (the base
    actually used: :obj:`"pretrained"`, :obj:`"svd"`, :obj:`"lightgcn"`, or
    :obj:`None` without metadata) and :obj:`metadata_seconds`. The model is
    initialised under the run's seed."""
    metadata, base_used = None, None
    start = time.perf_counter()
    if config.get('metadata'):
        base = resolve_base(config['metadata_base'], raw_dir)
        base_used = 'pretrained' if isinstance(base, tuple) else base
        dim = config.get('dim', inspect.signature(
            SimilarityMetadata.__init__).parameters['dim'].default)
        metadata = build_metadata(data, config['metadata'], base, dim,
                                  top_k=config['top_k'],
                                  seed=config['seed'])
    seconds = time.perf_counter() - start
    # The model is built under the run's seed so that its initialisation is
    # reproducible too.
    seed_everything(config['seed'])
    model = build_model(config['model'], data, metadata,
                        **split_config(config)['model'])
    return model, {'metadata_base': base_used, 'metadata_seconds': seconds}


def run_identity(config: Mapping[str, Any],
                 info: Mapping[str, Any]) -> Dict[str, Any]:
    r"""Returns the :obj:`run_info` a resumed run must match: every option
    of :obj:`config` except the trainer's own (compared by
    :class:`~torch_geometric_infodcl.train.Trainer`), those that may change
    on resume (:data:`~torch_geometric_infodcl.options.RESUME_FREE_OPTIONS`)
    and :obj:`threads` (the trainer compares the thread count in effect),
    plus the metadata base actually used."""
    trainer_fields = {f for f in TrainConfig.__dataclass_fields__}
    identity = {
        name: value for name, value in config.items()
        if name not in trainer_fields and name not in RESUME_FREE_OPTIONS
        and name != 'threads'
    }
    identity['metadata_base_used'] = info.get('metadata_base')
    return identity


# What a script reports as one line instead of a traceback: bad values,
# missing or foreign files, a folder in use.
SCRIPT_ERRORS = (ValueError, TypeError, OSError, RunFolderBusyError)


def script_main(main: Callable[[], Any]) -> None:
    r"""Runs a script's :obj:`main`; an expected failure
    (:data:`SCRIPT_ERRORS`) prints one :obj:`error: ...` line and exits with
    status 2."""
    try:
        main()
    except SCRIPT_ERRORS as error:
        print(f'error: {" ".join(str(error).split())}', file=sys.stderr)
        sys.exit(2)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    r"""Adds the flags of a script that reads a finished run (see
    :func:`load_run`): :obj:`--run`, :obj:`--root`, :obj:`--raw-dir` and
    :obj:`--threads`."""
    parser.add_argument('--run', required=True,
                        help='the output folder of a finished run')
    parser.add_argument('--root', default=None,
                        help="dataset cache root (default: the run's)")
    parser.add_argument('--raw-dir', default=None,
                        help="raw files folder (default: the run's)")
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch decides)')


class FinishedRun(NamedTuple):
    r"""A finished run of :obj:`examples/train_infodcl.py`, rebuilt by
    :func:`load_run`."""
    config: Dict[str, Any]
    data: HeteroData
    raw_dir: Optional[str]
    model: torch.nn.Module
    checkpoint: Dict[str, Any]


def run_config(run: str, root: Optional[str] = None,
               raw_dir: Optional[str] = None) -> Dict[str, Any]:
    r"""The resolved configuration of the run in the folder :obj:`run`, with
    the data locations optionally moved."""
    path = osp.join(run, CONFIG_FILE)
    if not osp.isfile(path):
        path = osp.join(run, 'config.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f"'{run}' holds no {CONFIG_FILE}: not the "
                                f"output folder of a run")
    moved = {k: v for k, v in (('root', root), ('raw_dir', raw_dir))
             if v is not None}
    return resolve([(path, read_config_file(path))], moved)


def load_run(run: str, root: Optional[str] = None,
             raw_dir: Optional[str] = None) -> FinishedRun:
    r"""Rebuilds the dataset and the model of the run in the folder
    :obj:`run` from its :obj:`config.yaml`, with the weights of its
    checkpoint's best validation state (the state its test metrics were
    reported at), in :meth:`eval` mode and with its training graph set.
    Raises if the dataset no longer holds the training interactions the run
    was trained on, or the run was never evaluated."""
    config = run_config(run, root, raw_dir)
    data, raw_dir = load_data(config['dataset'], config['root'],
                              config['raw_dir'], config['format'])
    edge_index = data[EDGE_TYPE].edge_index
    state = load_checkpoint(osp.join(run, CHECKPOINT_FILE),
                            map_location='cpu')
    if state['data']['train_hash'] != edge_hash(edge_index):
        raise ValueError(f"the run in '{run}' was trained on other "
                         f"interactions than {config['dataset']} holds now")
    if state['best_model'] is None:
        raise ValueError(f"the run in '{run}' has no evaluated state yet")
    model, _ = build_experiment(config, data, raw_dir)
    model.load_state_dict(state['best_model'])
    model.eval()
    if isinstance(model, GraphModel):
        model.set_graph(edge_index)
    return FinishedRun(config, data, raw_dir, model, state)


def fuse_with_ease(run: FinishedRun, l2_weight: float,
                   weight: Union[float, Sequence[float]] = FUSION_GRID,
                   run_folder: Optional[RunFolder] = None,
                   resume: bool = False) -> Dict[str, Any]:
    r"""Fuses the best-epoch scores of the finished :obj:`run` with those
    of EASE (L2 weight :obj:`l2_weight`) fitted on the same training graph
    (:class:`~torch_geometric_infodcl.models.EASEFusion`), chooses the
    fusion weight among :obj:`weight` on validation with
    :class:`~torch_geometric_infodcl.train.Trainer` (checkpointed into
    :obj:`run_folder`, held by the caller, if given; continued there with
    :obj:`resume`), monitoring the run's own validation metric, and returns
    the trainer's report with :obj:`selected` (the weights) and the run's
    own :obj:`base_valid` / :obj:`base_test` metrics."""
    store = run.data[EDGE_TYPE]
    edge_index = store.edge_index
    with torch.no_grad():
        # A model may hand out its parameters themselves (e.g. MF).
        user_emb, item_emb = (emb.detach()
                              for emb in run.model.embeddings(edge_index))
    fusion = EASEFusion(run.data['user'].num_nodes,
                        run.data['item'].num_nodes, user_emb, item_emb,
                        weight=weight, l2_weight=l2_weight)
    config = run.config
    # Every candidate weight is scored: patience covers the whole grid.
    train_config = TrainConfig(
        patience=fusion.num_fits, monitor=config['monitor'],
        ks=tuple(config['ks']), eval_batch_size=config['eval_batch_size'],
        seed=config['seed'], progress=False,
        output_dir=None if run_folder is None else run_folder.path,
        resume=resume)
    result = Trainer(fusion, run.data, train_config,
                     run_folder=run_folder).fit()
    base_test = full_rank_metrics(
        user_emb.float(), item_emb.float(), store.test_edge_index,
        exclude_edge_index=[edge_index, store.val_edge_index],
        ks=tuple(config['ks']), batch_size=config['eval_batch_size'])
    result.update(selected=fusion.selected(),
                  base_valid=run.checkpoint['best_valid'],
                  base_test=base_test)
    return result
