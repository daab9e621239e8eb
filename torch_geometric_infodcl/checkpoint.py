r"""Atomic files, and checkpoint files that load with
:obj:`torch.load(weights_only=True)`.

Every file of a run is written by :func:`atomic_write`: to a temporary file
:obj:`.<name>.<random>.tmp` in the same folder, flushed to disk, then moved
over the target with :func:`os.replace`, so that a crash or a full disk
leaves either the previous file or the new one, never a partial file.

A checkpoint is a :obj:`dict` of tensors and plain Python values (:obj:`int`,
:obj:`float`, :obj:`bool`, :obj:`str`, :obj:`None`, and lists, tuples and
dicts of them), saved with a format marker so that a foreign file is
recognised as such instead of being half-understood."""
import os
import os.path as osp
import random
import secrets
import shutil
from collections import OrderedDict
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

FORMAT_KEY = '__torch_geometric_infodcl_checkpoint__'
FORMAT_VERSION = 1

_PLAIN_TYPES = (int, float, bool, str, type(None))
_MapLocation = Optional[Union[str, torch.device, Dict[str, str]]]


class CheckpointError(ValueError):
    r"""Raised when a file is not a readable checkpoint of this package."""


class FileWriteError(OSError):
    r"""Raised when a file could not be written (e.g. a full disk); the
    previous file at that path, if any, is unchanged. :obj:`path` is the
    target file."""
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"could not write '{path}' ({reason}); the previous "
                         f"file, if any, is unchanged")
        self.path = path


def temporary_prefix(name: str) -> str:
    r"""Returns the prefix of the temporary files :func:`atomic_write` uses
    for the file :obj:`name` (they end with :obj:`.tmp`)."""
    return f'.{name}.'


def _create_temporary(directory: str, name: str) -> Tuple[int, str]:
    # Like tempfile.mkstemp, but with the permissions of a file made by
    # open() (0o666 less the umask) rather than 0o600.
    while True:
        tmp_path = osp.join(directory, f'{temporary_prefix(name)}'
                            f'{secrets.token_hex(6)}.tmp')
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(
                os, 'O_BINARY', 0)
            return os.open(tmp_path, flags, 0o666), tmp_path
        except FileExistsError:
            continue


def _write_failure(path: str, error: BaseException) -> FileWriteError:
    if isinstance(error, OSError):
        reason = error.strerror or str(error)
    else:
        # torch's stream writer reports a failed write as
        # "[enforce fail at inline_container.cc:...] . <what failed>".
        detail = str(error).splitlines()[0] if str(error) else ''
        reason = f"write failed (torch: {detail.split('] . ', 1)[-1]})"
    try:
        free = shutil.disk_usage(osp.dirname(path)).free
        reason += f'; {free / 2**20:.0f} MiB free on its disk'
    except OSError:
        pass
    return FileWriteError(path, reason)


def atomic_write(path: str, content: Union[bytes, str,
                                           Callable[[IO[bytes]], None]]
                 ) -> None:
    r"""Writes :obj:`content` to :obj:`path` atomically: to a temporary file
    in the same folder, flushed to disk with :func:`os.fsync` and moved over
    :obj:`path` with :func:`os.replace`. A crash at any point leaves either
    the previous file or the new one at :obj:`path`, never a partial file.
    A failed write (e.g. a full disk) removes the temporary file and raises
    a :class:`FileWriteError` naming :obj:`path`.

    Args:
        path (str): The target file; its folder must exist.
        content (bytes or str or callable): The bytes, the text (UTF-8), or
            a function that writes to the binary file object it is given.
    """
    directory = osp.dirname(osp.abspath(path))
    try:
        fd, tmp_path = _create_temporary(directory, osp.basename(path))
    except OSError as e:
        raise _write_failure(path, e) from e
    try:
        with os.fdopen(fd, 'wb') as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else
                        content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException as e:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        if isinstance(e, (OSError, RuntimeError)):
            raise _write_failure(path, e) from e
        raise
    _fsync_directory(directory)


def _check_loadable(value: Any, where: str) -> None:
    # Catch at save time what `weights_only=True` would refuse at load time.
    if isinstance(value, (Tensor, ) + _PLAIN_TYPES):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_loadable(item, f'{where}[{i}]')
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint key {where}[{key!r}] must be a "
                                f"str or int (got {type(key).__name__})")
            _check_loadable(item, f'{where}[{key!r}]')
        return
    raise TypeError(f"checkpoint value {where} has type "
                    f"{type(value).__name__}, which torch.load("
                    f"weights_only=True) cannot read; store tensors or plain "
                    f"Python values")


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    r"""Saves :obj:`state` to :obj:`path` with :func:`atomic_write`: a crash
    at any point leaves either the previous file or the new one at
    :obj:`path`, never a partial file, and a failed write (e.g. a full disk)
    raises a :class:`FileWriteError` naming :obj:`path`.

    Args:
        path (str): The checkpoint file.
        state (dict): Tensors and plain Python values (see the module
            docstring); values of other types raise a :class:`TypeError`
            naming the key.
    """
    if not isinstance(state, dict):
        raise TypeError(f"'state' must be a dict (got {type(state).__name__})")
    if FORMAT_KEY in state:
        raise ValueError(f"'state' must not contain the reserved key "
                         f"'{FORMAT_KEY}'")
    _check_loadable(state, 'state')

    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: torch.save({
        FORMAT_KEY: FORMAT_VERSION,
        **state
    }, f))


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not supported on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str,
                    map_location: _MapLocation = None) -> Dict[str, Any]:
    r"""Loads a checkpoint written by :func:`save_checkpoint` with
    :obj:`torch.load(weights_only=True)`, so that loading never executes
    code from the file.

    Raises a :class:`CheckpointError` naming the file if it is corrupt,
    truncated, not a :obj:`torch` file, or a :obj:`torch` file that was not
    written by :func:`save_checkpoint` (no format marker) or by a newer
    format version.

    Args:
        path (str): The checkpoint file.
        map_location (str or torch.device or dict, optional): Where to load
            tensors, as in :func:`torch.load`. (default: :obj:`None`)
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f"checkpoint file '{path}' does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        # torch's first sentence says what failed; the rest is advice to
        # load with weights_only=False, which we deliberately never do.
        reason = str(e).split('. ')[0].splitlines()[0] if str(e) else ''
        raise CheckpointError(
            f"'{path}' is not a readable checkpoint (corrupt or truncated "
            f"file, or not written by torch.save with plain values): "
            f"{type(e).__name__}: {reason}") from e
    if not isinstance(state, dict) or FORMAT_KEY not in state:
        raise CheckpointError(
            f"'{path}' is a torch file but not a torch_geometric_infodcl "
            f"checkpoint (format marker '{FORMAT_KEY}' missing)")
    version = state.pop(FORMAT_KEY)
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(
            f"'{path}' has checkpoint format version {version!r}; this "
            f"version of torch_geometric_infodcl reads up to "
            f"{FORMAT_VERSION}")
    return state


def get_rng_states(
        generators: Optional[Dict[str, torch.Generator]] = None
) -> Dict[str, Any]:
    r"""Returns the states of Python's, NumPy's and PyTorch's (CPU and CUDA)
    global random number generators and of the given named
    :class:`torch.Generator` objects, in a form :func:`load_checkpoint` can
    read (tensors, ints, lists)."""
    version, mt_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    states: Dict[str, Any] = {
        'python': [version, list(mt_state), gauss],
        'numpy': [
            np_name,
            torch.from_numpy(np_keys.astype(np.int64)),
            int(np_pos),
            int(np_has_gauss),
            float(np_gauss),
        ],
        'torch': torch.get_rng_state(),
        'cuda': (torch.cuda.get_rng_state_all()
                 if torch.cuda.is_available() else []),
        'generators': {},
    }
    for name, gen in (generators or {}).items():
        states['generators'][name] = gen.get_state()
    return states


def set_rng_states(
        states: Dict[str, Any],
        generators: Optional[Dict[str, torch.Generator]] = None) -> None:
    r"""Restores the states returned by :func:`get_rng_states`, including
    those of the given named :class:`torch.Generator` objects."""
    version, mt_state, gauss = states['python']
    random.setstate((version, tuple(mt_state), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = states['numpy']
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos,
                         np_has_gauss, np_gauss))
    torch.set_rng_state(states['torch'].cpu())
    cuda_states: List[Tensor] = states['cuda']
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) != torch.cuda.device_count():
            raise ValueError(f"the checkpoint holds {len(cuda_states)} CUDA "
                             f"RNG states but {torch.cuda.device_count()} "
                             f"CUDA devices are visible")
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
    for name, gen in (generators or {}).items():
        if name not in states['generators']:
            raise KeyError(f"the checkpoint holds no state for the "
                           f"generator '{name}'")
        gen.set_state(states['generators'][name].cpu())


def state_dict_copy(module: torch.nn.Module) -> 'OrderedDict[str, Tensor]':
    r"""Returns a detached deep copy of :obj:`module.state_dict()`."""
    return OrderedDict(
        (k, v.detach().clone()) for k, v in module.state_dict().items())
