r"""Raw files: finding them, reading them (``.gz`` transparently), hashing
their content and writing files atomically.

Every error about the content of a file is a :class:`DataFileError` naming
the file and, for text files, the 1-based line.
"""
import contextlib
import gzip
import hashlib
import os
import os.path as osp
import re
import tempfile
import zlib
from typing import IO, Iterable, Iterator, List, Optional

__all__ = [
    'DataFileError',
    'find_file',
    'find_matching_file',
    'list_files',
    'open_binary',
    'read_bytes',
    'read_text',
    'content_hash',
    'atomic_path',
]

#: Errors of a damaged ``.gz`` stream (a bad CRC, a truncated or garbled
#: deflate stream).
GZIP_ERRORS = (OSError, EOFError, zlib.error)


class DataFileError(ValueError):
    r"""A malformed input file; the message names the file (and line)."""
    def __init__(self, path: str, message: str,
                 line: Optional[int] = None) -> None:
        self.path = path
        self.message = message
        self.line = line
        where = f"'{path}'" if line is None else f"'{path}', line {line}"
        super().__init__(f'{where}: {message}')


def list_files(folder: str) -> List[str]:
    r"""Sorted file names of :obj:`folder` (empty if it does not exist)."""
    if not osp.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder)
                  if osp.isfile(osp.join(folder, f)))


def find_file(folder: str, names: Iterable[str]) -> Optional[str]:
    r"""Returns the first of ``folder/name`` or ``folder/name.gz`` that
    exists, for ``name`` in :obj:`names` (in order), else :obj:`None`."""
    for name in names:
        for candidate in (name, name + '.gz'):
            path = osp.join(folder, candidate)
            if osp.isfile(path):
                return path
    return None


def find_matching_file(folder: str, pattern: str) -> Optional[str]:
    r"""Returns the first file of :obj:`folder` (sorted by name) whose name,
    without a ``.gz`` suffix, fully matches the regular expression
    :obj:`pattern`."""
    rx = re.compile(pattern)
    for name in list_files(folder):
        if rx.fullmatch(name[:-3] if name.endswith('.gz') else name):
            return osp.join(folder, name)
    return None


def open_binary(path: str) -> IO[bytes]:
    r"""Opens a file for binary reading, decompressing ``.gz`` files."""
    if not osp.isfile(path):
        raise FileNotFoundError(f"file '{path}' does not exist")
    if path.endswith('.gz'):
        return gzip.open(path, 'rb')
    return open(path, 'rb')


def read_chunk(path: str, f: IO[bytes], size: int = -1) -> bytes:
    r"""``f.read(size)`` with a damaged ``.gz`` stream reported as a
    :class:`DataFileError` naming :obj:`path`."""
    try:
        return f.read(size)
    except GZIP_ERRORS as e:
        raise DataFileError(path, f'cannot decompress: {e}') from e


def read_bytes(path: str) -> bytes:
    r"""Reads a whole (optionally gzip-compressed) file."""
    with open_binary(path) as f:
        return read_chunk(path, f)


def read_text(path: str, encoding: str = 'utf-8') -> str:
    r"""Reads a whole (optionally gzip-compressed) text file."""
    raw = read_bytes(path)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b'\n') + 1
        raise DataFileError(path, f'not valid {encoding} text ({e.reason})',
                            line) from e


def content_hash(path: str, chunk_bytes: int = 1 << 22) -> str:
    r"""SHA-256 of the bytes of :obj:`path` as stored (compressed files are
    hashed compressed), read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_bytes), b''):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    r"""Yields a temporary path beside :obj:`path` to write to, and moves
    the written file over :obj:`path` with :func:`os.replace` once the block
    succeeds: a reader sees the old file or the complete new one, never a
    partial file.  On an error the temporary file is removed and
    :obj:`path` is untouched."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.',
                               suffix='.tmp')
    os.close(fd)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
