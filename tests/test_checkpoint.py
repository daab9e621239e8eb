import os
import random

import numpy as np
import pytest
import torch

import torch_geometric_infodcl.checkpoint as ckpt
from torch_geometric_infodcl.checkpoint import (
    CheckpointError,
    get_rng_states,
    load_checkpoint,
    save_checkpoint,
    set_rng_states,
    state_dict_copy,
)


def example_state():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    return {
        'model': model.state_dict(),
        'optimizer': optimizer.state_dict(),
        'epoch': 7,
        'history': [{'epoch': 5, 'recall@20': 0.25}],
        'best': None,
        'config': {'ks': (10, 20), 'device': 'cpu'},
    }


def assert_same(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def test_round_trip(tmp_path):
    path = str(tmp_path / 'sub' / 'checkpoint.pt')  # Creates the folder.
    state = example_state()
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert_same(loaded, state)
    # The optimizer state restores into a fresh optimizer.
    model = torch.nn.Linear(3, 2)
    model.load_state_dict(loaded['model'])
    torch.optim.Adam(model.parameters()).load_state_dict(loaded['optimizer'])
    assert os.listdir(tmp_path / 'sub') == ['checkpoint.pt']


def test_crash_during_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / 'checkpoint.pt')
    save_checkpoint(path, {'epoch': 1, 'w': torch.ones(3)})
    old_bytes = open(path, 'rb').read()

    def crashing_save(obj, f):
        f.write(b'PK\x03\x04 half a zip file')
        raise KeyboardInterrupt('killed while writing')

    monkeypatch.setattr(ckpt.torch, 'save', crashing_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {'epoch': 2, 'w': torch.zeros(3)})
    monkeypatch.undo()

    assert open(path, 'rb').read() == old_bytes
    assert load_checkpoint(path)['epoch'] == 1
    assert os.listdir(tmp_path) == ['checkpoint.pt']  # No temp file left.


def test_crash_before_rename_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / 'checkpoint.pt')
    save_checkpoint(path, {'epoch': 1})

    def crashing_replace(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(ckpt.os, 'replace', crashing_replace)
    with pytest.raises(OSError, match='disk full'):
        save_checkpoint(path, {'epoch': 2})
    monkeypatch.undo()
    assert load_checkpoint(path)['epoch'] == 1
    assert os.listdir(tmp_path) == ['checkpoint.pt']


def test_truncated_file(tmp_path):
    path = str(tmp_path / 'checkpoint.pt')
    save_checkpoint(path, example_state())
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='checkpoint.pt.*not a readable'):
        load_checkpoint(path)


def test_random_bytes(tmp_path):
    path = str(tmp_path / 'noise.pt')
    with open(path, 'wb') as f:
        f.write(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match='noise.pt.*not a readable'):
        load_checkpoint(path)


def test_foreign_torch_file(tmp_path):
    path = str(tmp_path / 'foreign.pt')
    torch.save({'model': torch.nn.Linear(2, 2).state_dict()}, path)
    with pytest.raises(CheckpointError,
                       match='foreign.pt.*not a torch_geometric_infodcl'):
        load_checkpoint(path)
    torch.save([torch.ones(2)], path)
    with pytest.raises(CheckpointError, match='format marker'):
        load_checkpoint(path)


def test_foreign_unsafe_pickle_is_refused(tmp_path):
    # A pickle that weights_only=True must refuse (an arbitrary object).
    path = str(tmp_path / 'unsafe.pt')
    torch.save({ckpt.FORMAT_KEY: 1, 'obj': np.arange(3)}, path)
    with pytest.raises(CheckpointError, match='unsafe.pt.*not a readable'):
        load_checkpoint(path)


def test_newer_format_version(tmp_path):
    path = str(tmp_path / 'future.pt')
    torch.save({ckpt.FORMAT_KEY: ckpt.FORMAT_VERSION + 1}, path)
    with pytest.raises(CheckpointError, match='future.pt.*format version 2'):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pt'):
        load_checkpoint(str(tmp_path / 'nothing.pt'))


def test_unloadable_values_are_refused_at_save_time(tmp_path):
    path = str(tmp_path / 'checkpoint.pt')
    with pytest.raises(TypeError, match=r"state\['rng'\]\[1\].*ndarray"):
        save_checkpoint(path, {'rng': [1, np.zeros(2)]})
    with pytest.raises(TypeError, match="'state' must be a dict"):
        save_checkpoint(path, [1, 2])
    with pytest.raises(ValueError, match='reserved key'):
        save_checkpoint(path, {ckpt.FORMAT_KEY: 3})
    assert not os.path.exists(path)


def draw_all(generator):
    return (random.random(), float(np.random.rand()), float(torch.rand(1)),
            float(torch.rand(1, generator=generator)))


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    gen = torch.Generator().manual_seed(11)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    draw_all(gen)
    path = str(tmp_path / 'rng.pt')
    save_checkpoint(path, {'rng': get_rng_states({'sampler': gen})})
    expected = draw_all(gen)

    random.seed(100)
    np.random.seed(100)
    torch.manual_seed(100)
    gen.manual_seed(100)
    set_rng_states(load_checkpoint(path)['rng'], {'sampler': gen})
    assert draw_all(gen) == expected

    with pytest.raises(KeyError, match="generator 'other'"):
        set_rng_states(load_checkpoint(path)['rng'], {'other': gen})


def test_state_dict_copy_is_detached_from_the_module():
    model = torch.nn.Linear(2, 2)
    copy = state_dict_copy(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not torch.equal(copy['weight'], model.weight)
    model.load_state_dict(copy)
    assert torch.equal(copy['weight'], model.weight)


# Atomic files and write failures #############################################


def test_atomic_write_text_bytes_and_writer(tmp_path):
    path = str(tmp_path / 'f')
    ckpt.atomic_write(path, 'text é')
    assert open(path, encoding='utf-8').read() == 'text é'
    ckpt.atomic_write(path, b'\x00\x01')
    assert open(path, 'rb').read() == b'\x00\x01'
    ckpt.atomic_write(path, lambda f: f.write(b'written'))
    assert open(path, 'rb').read() == b'written'
    # Permissions of a file made by open(), not mkstemp's 0o600.
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert os.listdir(tmp_path) == ['f']


def test_a_failed_torch_write_names_the_path(tmp_path, monkeypatch):
    path = str(tmp_path / 'checkpoint.pt')
    save_checkpoint(path, {'epoch': 1})

    def full_disk(obj, f):
        f.write(b'PK\x03\x04')
        raise RuntimeError('[enforce fail at inline_container.cc:672] . '
                           'PytorchStreamWriter failed writing file data/0: '
                           'file write failed')

    monkeypatch.setattr(ckpt.torch, 'save', full_disk)
    with pytest.raises(ckpt.FileWriteError) as info:
        save_checkpoint(path, {'epoch': 2})
    message = str(info.value)
    assert message.startswith(f"could not write '{path}' (write failed "
                              f"(torch: PytorchStreamWriter failed writing "
                              f"file data/0")
    assert 'enforce fail' not in message and 'MiB free' in message
    assert message.endswith('the previous file, if any, is unchanged')
    assert info.value.path == path
    monkeypatch.undo()
    assert load_checkpoint(path)['epoch'] == 1
    assert os.listdir(tmp_path) == ['checkpoint.pt']


def test_a_real_write_failure_keeps_the_previous_file(tmp_path, run_forked):
    # A file-size limit makes write() fail with EFBIG, as a full disk makes
    # it fail with ENOSPC: torch.save then raises its own RuntimeError.
    import resource
    import signal
    path = str(tmp_path / 'checkpoint.pt')
    save_checkpoint(path, {'w': torch.zeros(10)})
    small = open(path, 'rb').read()
    text = str(tmp_path / 'results.json')
    ckpt.atomic_write(text, '{"valid": true}')

    def write_beyond_the_limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))
        for target, content in [(path, {'w': torch.zeros(100_000)}),
                                (text, 'x' * (1 << 17))]:
            try:
                if target == path:
                    save_checkpoint(target, content)
                else:
                    ckpt.atomic_write(target, content)
            except ckpt.FileWriteError as e:
                print(e)
            else:
                return 1
        return 0

    status, output = run_forked(write_beyond_the_limit)
    assert os.WEXITSTATUS(status) == 0, output
    lines = output.splitlines()
    assert lines[0].startswith(f"could not write '{path}'")
    assert lines[1].startswith(f"could not write '{text}' (File too large")
    assert 'enforce fail' not in output
    assert open(path, 'rb').read() == small
    assert open(text).read() == '{"valid": true}'
    assert sorted(os.listdir(tmp_path)) == ['checkpoint.pt', 'results.json']
