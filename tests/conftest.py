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
