r"""Fault injection: a short CLI run is killed with SIGKILL at 20 random
(seeded) moments, each followed by :obj:`--resume`; every final
:obj:`results.json` must equal the uninterrupted run's and the folder must
hold no stray file.

The runs are forked processes (see the :obj:`run_forked` fixture) so that
the 42 runs take seconds, not minutes of interpreter start-up. A moment is
the k-th occurrence of an event of one phase of the run, counted in the
child: a training step, an evaluation, the middle of the checkpoint's
:func:`torch.save` (half the bytes written), the :func:`os.fsync` of an
atomic write (checkpoint, metrics, configuration, results, curves: the data
is in the temporary file) or the :func:`os.replace` that publishes it."""
import importlib.util
import io
import json
import os
import os.path as osp
import random
import signal

import pytest
import torch
from run_helpers import comparable

import torch_geometric_infodcl.train as train_module

SCRIPT = osp.join(osp.dirname(__file__), '..', 'examples', 'train_infodcl.py')
PHASES = ('step', 'evaluate', 'torch.save', 'fsync', 'replace')
KILLS = 20


@pytest.fixture(scope='module')
def cli():
    spec = importlib.util.spec_from_file_location('train_infodcl', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_events(kill_at=None):
    r"""Counts the events of every phase (in the forked child) and, at the
    :obj:`kill_at = (phase, k)`-th one, kills the process with SIGKILL."""
    counts = {phase: 0 for phase in PHASES}

    def event(phase):
        counts[phase] += 1
        return kill_at == (phase, counts[phase])

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, name, phase):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if event(phase):
                kill()
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)

    wrap(train_module.Trainer, '_train_step', 'step')
    wrap(train_module.Trainer, 'evaluate', 'evaluate')
    wrap(os, 'fsync', 'fsync')
    wrap(os, 'replace', 'replace')
    save = torch.save

    def half_written_save(obj, f, *args, **kwargs):
        if not event('torch.save'):
            return save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        save(obj, buffer)
        f.write(buffer.getvalue()[:len(buffer.getvalue()) // 2])
        f.flush()
        kill()

    torch.save = half_written_save
    return counts


def test_sigkill_at_random_moments_then_resume(cli, run_forked, tmp_path):
    root = str(tmp_path / 'data')

    def argv(out, *extra):
        return ['--root', root, '--model', 'mf', '--dim', '16', '--epochs',
                '4', '--eval-every', '1', '--batch-size', '8192', '--lr',
                '0.01', '--no-progress', '--threads', '1', '--output',
                str(tmp_path / out), *extra]

    def run(out, *extra, kill_at=None, report=False):
        def child():
            # Drawing the figure is matplotlib's time, not a write to test.
            cli.render_curves = lambda result: b'curves'
            counts = install_events(kill_at)
            code = cli.console_main(argv(out, *extra))
            if report:
                print('EVENTS', json.dumps(counts))
            return code

        return run_forked(child)

    status, output = run('reference')  # Also builds the dataset cache.
    assert os.WEXITSTATUS(status) == 0, output
    with open(tmp_path / 'reference' / 'results.json') as f:
        reference = json.load(f)
    assert reference['epochs_run'] == 4 and len(reference['history']) == 4

    status, output = run('counted', report=True)
    assert os.WEXITSTATUS(status) == 0, output
    counts = json.loads(output.split('EVENTS ')[-1])
    assert counts['step'] >= 4 and counts['evaluate'] == 5  # 4 + test
    assert counts['torch.save'] == 4

    rng = random.Random(2024)
    moments = []
    for trial in range(KILLS):
        phase = PHASES[trial % len(PHASES)]  # Every phase, 4 times.
        moments.append((phase, rng.randint(1, counts[phase])))
    for trial, moment in enumerate(moments):
        out = f'trial{trial}'
        status, output = run(out, kill_at=moment)
        assert os.WIFSIGNALED(status) and \
            os.WTERMSIG(status) == signal.SIGKILL, (moment, output)
        status, output = run(out, '--resume')
        assert os.WEXITSTATUS(status) == 0, (moment, output)

        folder = tmp_path / out
        with open(folder / 'results.json') as f:
            results = json.load(f)
        assert comparable(results) == comparable(reference), moment
        # No lock and no temporary file left.
        assert sorted(os.listdir(folder)) == [
            'checkpoint.pt', 'config.yaml', 'curves.png', 'metrics.jsonl',
            'results.json'
        ], moment
        lines = [json.loads(line) for line in open(folder / 'metrics.jsonl')]
        assert lines == results['history'], moment
