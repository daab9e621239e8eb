r"""A run folder owned by one run at a time.

:class:`RunFolder` holds an exclusive lock on :obj:`<folder>/run.lock` while
a run lives (an operating-system lock, released by the kernel when the
process dies, so a lock left by a killed run is recognised as stale and
taken over with a warning), refuses to start a new run in a folder that
holds any file of a previous run unless that run is resumed, removes the
temporary files of writes interrupted by a kill, and writes every file with
:func:`~torch_geometric_infodcl.checkpoint.atomic_write`."""
import json
import os
import os.path as osp
import re
import socket
import time
import warnings
from typing import Any, Dict, List, Optional

from torch_geometric_infodcl.checkpoint import (
    atomic_write,
    temporary_prefix,
)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_FILE = 'run.lock'
CHECKPOINT_FILE = 'checkpoint.pt'
METRICS_FILE = 'metrics.jsonl'
RESULTS_FILE = 'results.json'
CONFIG_FILE = 'config.yaml'
CURVES_FILE = 'curves.png'
# Every file a run writes; any of them marks the folder as taken.
RUN_FILES = (CHECKPOINT_FILE, METRICS_FILE, RESULTS_FILE, CONFIG_FILE,
             'config.json', CURVES_FILE)


class RunFolderBusyError(RuntimeError):
    r"""Raised when another live process holds the lock of a run folder."""


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _read_holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode(errors='replace').strip()
    try:
        info = json.loads(text)
        return (f"pid {info['pid']} on {info['host']}, started "
                f"{info['started']}")
    except (ValueError, KeyError, TypeError):
        return text or 'no holder recorded'


class RunFolder:
    r"""The output folder of one run: :meth:`acquire` creates it, takes its
    lock and checks that it may be used; :meth:`release` (or leaving the
    :obj:`with` block) gives it back.

    Args:
        path (str): The folder.
    """
    def __init__(self, path: str) -> None:
        self.path = os.fspath(path)
        self._fd: Optional[int] = None

    @property
    def locked(self) -> bool:
        r"""Whether this object holds the folder's lock."""
        return self._fd is not None

    def file(self, name: str) -> str:
        r"""Returns the path of the file :obj:`name` in the folder."""
        return osp.join(self.path, name)

    def exists(self, name: str) -> bool:
        r"""Returns whether the file :obj:`name` exists in the folder."""
        return osp.isfile(self.file(name))

    def run_files(self) -> List[str]:
        r"""Returns the names of the run files present in the folder."""
        return [name for name in RUN_FILES if self.exists(name)]

    # Ownership ###############################################################

    def acquire(self, resume: bool = False) -> 'RunFolder':
        r"""Creates the folder, takes its lock and removes temporary files
        left by interrupted writes.

        Raises a :class:`RunFolderBusyError` if another live process holds
        the lock, a :class:`FileExistsError` if the folder holds files of a
        previous run and :obj:`resume` is :obj:`False`, and a
        :class:`FileNotFoundError` if :obj:`resume` is :obj:`True` but the
        checkpoint of a run that has already been evaluated is missing.

        Args:
            resume (bool, optional): Whether the run continues the run of the
                folder. (default: :obj:`False`)
        """
        if osp.exists(self.path) and not osp.isdir(self.path):
            raise NotADirectoryError(f"the output folder '{self.path}' is a "
                                     f"file")
        os.makedirs(self.path, exist_ok=True)
        self._lock()
        try:
            self._check_reuse(resume)
            self._remove_temporaries()
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        r"""Removes the lock file and releases the lock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if os.fstat(fd).st_ino == os.stat(self.file(LOCK_FILE)).st_ino:
                os.remove(self.file(LOCK_FILE))
        except OSError:
            pass
        finally:
            _unlock(fd)
            os.close(fd)

    def __enter__(self) -> 'RunFolder':
        if not self.locked:
            self.acquire()
        return self

    def __exit__(self, *args: Any) -> None:
        self.release()

    def _lock(self) -> None:
        path = self.file(LOCK_FILE)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                holder = _read_holder(fd)
                os.close(fd)
                raise RunFolderBusyError(
                    f"the output folder '{self.path}' is in use by another "
                    f"run ({holder}; lock '{path}'); wait for it to end or "
                    f"choose another output folder")
            # The previous holder may have removed the file between our open
            # and our lock: then the lock must be taken on the new file.
            try:
                if os.fstat(fd).st_ino == os.stat(path).st_ino:
                    break
            except FileNotFoundError:
                pass
            _unlock(fd)
            os.close(fd)
        if os.fstat(fd).st_size > 0:
            warnings.warn(f"took over the stale lock '{path}' of a run that "
                          f"is no longer alive ({_read_holder(fd)})",
                          stacklevel=3)
        holder = json.dumps({
            'pid': os.getpid(),
            'host': socket.gethostname(),
            'started': time.strftime('%Y-%m-%d %H:%M:%S'),
        })
        # The lock file is the lock: it is written in place (only the
        # message of a later stale-lock warning depends on its text).
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, holder.encode())
        self._fd = fd

    def _check_reuse(self, resume: bool) -> None:
        present = self.run_files()
        if not resume and present:
            raise FileExistsError(
                f"the output folder '{self.path}' holds files of a previous "
                f"run ({', '.join(present)}); set resume=True (--resume) to "
                f"continue that run, or choose another output folder")
        if resume and not self.exists(CHECKPOINT_FILE):
            evaluated = [name for name in (RESULTS_FILE, METRICS_FILE)
                         if self.exists(name)
                         and osp.getsize(self.file(name)) > 0]
            if evaluated:
                raise FileNotFoundError(
                    f"cannot resume the run in '{self.path}': its checkpoint "
                    f"'{self.file(CHECKPOINT_FILE)}' is missing but the "
                    f"run was already evaluated ({', '.join(evaluated)}); "
                    f"choose another output folder for a new run")

    def _remove_temporaries(self) -> None:
        # Only while the lock is held: a live run's temporaries are its own.
        pattern = re.compile('|'.join(
            re.escape(temporary_prefix(name)) + r'[^.]+\.tmp'
            for name in RUN_FILES))
        for name in os.listdir(self.path):
            if pattern.fullmatch(name):
                os.remove(self.file(name))

    # Files ###################################################################

    def _check_locked(self) -> None:
        if not self.locked:
            raise RuntimeError(f"the run folder '{self.path}' must be "
                               f"acquired before writing to it")

    def write(self, name: str, content: Any) -> str:
        r"""Writes the file :obj:`name` atomically (see
        :func:`~torch_geometric_infodcl.checkpoint.atomic_write`) and returns
        its path."""
        self._check_locked()
        path = self.file(name)
        atomic_write(path, content)
        return path

    def write_json(self, name: str, obj: Dict[str, Any]) -> str:
        r"""Writes :obj:`obj` as indented JSON to the file :obj:`name`
        atomically and returns its path."""
        return self.write(name, json.dumps(obj, indent=2) + '\n')

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}('{self.path}', "
                f"locked={self.locked})")
