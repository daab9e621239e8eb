import os
import os.path as osp

import pytest

SHARED_DATA = osp.abspath(
    osp.join(osp.dirname(__file__), '..', '..', 'shared', 'data'))


def _shared(name: str) -> str:
    path = osp.join(SHARED_DATA, name)
    if not osp.isdir(path):
        msg = f"real dataset folder '{path}' is missing"
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(msg + ' (CI must have ../shared/data)')
        pytest.skip(msg)
    return path


@pytest.fixture(scope='session')
def office_dir() -> str:
    return _shared('office')


@pytest.fixture
def ml1m_dir() -> str:
    return _shared('ml-1m')


@pytest.fixture
def baby_dir() -> str:
    return _shared('baby')


@pytest.fixture
def gowalla_dir() -> str:
    return _shared('gowalla')


@pytest.fixture
def run_forked():
    r"""Runs a function in a forked child process (a real separate process
    that may be killed, sharing the parent's imports) and returns its wait
    status and everything it printed. The child uses one torch thread, as
    PyTorch's DataLoader workers do after a fork."""
    import io
    import sys
    import traceback

    import torch

    def run(function):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # The child never returns into pytest.
            code = 1
            try:
                os.close(read_end)
                out = io.TextIOWrapper(os.fdopen(write_end, 'wb'),
                                       line_buffering=True)
                sys.stdout = sys.stderr = out
                torch.set_num_threads(1)
                code = function() or 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, 'rb') as f:
            output = f.read().decode(errors='replace')
        _, status = os.waitpid(pid, 0)
        return status, output

    return run


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'distributed: spawns 2 gloo processes (deselect with '
        '-m "not distributed")')
    config.addinivalue_line('markers',
                            'cuda: needs a CUDA device (skipped without)')
