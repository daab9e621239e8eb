r"""What every benchmark script shares: the machine it ran on, one timing
helper, one peak-memory measure, the real datasets the scripts read, and the
results file.

Every ``bench_*.py`` report (a JSON object) starts with the header keys
:obj:`HEADER_KEYS`:

* ``command``: the command line, with ``python`` for the interpreter and
  every path relative to the repository root;
* ``time`` (ISO 8601), ``quick`` (whether ``--quick`` sizes were used: then
  the timings mean nothing), ``machine`` (:func:`machine_info`, keys
  :obj:`MACHINE_KEYS`), ``settings`` (sizes and repetitions of the run);
* ``loadavg_before`` / ``loadavg_after``: the 1, 5 and 15 minute load
  averages around the measurement (a load above the number of cores means
  other processes competed for the CPU), and ``wall_seconds``;

followed by the keys of its study (each script's :obj:`STUDY_KEYS`).
Reports are written atomically and hold no absolute path: paths are stored
relative to the repository root (:func:`repo_relative`), and
:func:`write_json` refuses a report that names the repository by its
absolute path.
"""
import argparse
import itertools
import json
import math
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch_geometric
from torch import Tensor

from torch_geometric_infodcl.checkpoint import atomic_write
from torch_geometric_infodcl.data import NegativeSampler, TrainBatch
from torch_geometric_infodcl.datasets.readers import read_lightgcn, read_pairs
from torch_geometric_infodcl.profile import peak_rss_mb  # noqa: F401

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS_DIR = osp.join(REPO_ROOT, 'benchmarks', 'results')
DEFAULT_DATA_ROOT = osp.join(REPO_ROOT, '..', 'shared', 'data')
QUICK_DIR = osp.join(tempfile.gettempdir(), 'infodcl_bench_quick')

HEADER_KEYS = ('command', 'time', 'quick', 'machine', 'settings',
               'loadavg_before', 'loadavg_after', 'wall_seconds')
MACHINE_KEYS = ('cpu_model', 'logical_cpus', 'usable_cpus', 'torch_threads',
                'mem_total_gib', 'torch', 'torch_geometric', 'numpy',
                'python', 'platform', 'mkl', 'cuda')

# Machine #####################################################################


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def mem_bytes(field: str) -> int:
    r"""A :obj:`/proc/meminfo` field (e.g. ``'MemAvailable'``) in bytes."""
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"/proc/meminfo has no '{field}' line")


def machine_info() -> Dict[str, Any]:
    r"""The machine and software a report was measured with
    (:obj:`MACHINE_KEYS`)."""
    usable = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
              else os.cpu_count())
    return dict(
        cpu_model=cpu_model(), logical_cpus=os.cpu_count(),
        usable_cpus=usable, torch_threads=torch.get_num_threads(),
        mem_total_gib=mem_bytes('MemTotal') / 2**30, torch=torch.__version__,
        torch_geometric=torch_geometric.__version__, numpy=np.__version__,
        python=platform.python_version(), platform=platform.platform(),
        mkl=torch.backends.mkl.is_available(),
        cuda=(torch.cuda.get_device_name(0) if torch.cuda.is_available()
              else None))


def load_average() -> List[float]:
    return list(os.getloadavg())


# Timing ######################################################################


def timed(fn: Callable[[], object], runs: int,
          warmup: int = 1) -> List[float]:
    r"""Seconds of :obj:`runs` calls of :obj:`fn`, after :obj:`warmup`
    untimed calls (allocator, lazy imports, thread pool, caches)."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0 (got runs={runs}, "
                         f"warmup={warmup})")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary(times: List[float], **extra) -> Dict[str, Any]:
    r"""``{'seconds': times, 'median_seconds': median, **extra}``."""
    return dict(seconds=times, median_seconds=statistics.median(times),
                **extra)


def ms(seconds: float) -> str:
    return f'{seconds * 1e3:.1f} ms'


# Paths and files #############################################################


def repo_relative(path: str) -> str:
    r""":obj:`path` relative to the repository root (``..`` where outside
    it), with ``/`` separators."""
    relative = osp.relpath(osp.abspath(path), REPO_ROOT)
    return relative.replace(os.sep, '/')


def display_command(argv: Sequence[str]) -> str:
    r"""A command line as a report stores it: ``python`` for this
    interpreter and every absolute path (also in ``--flag=PATH``) relative
    to the repository root."""
    def show(token: str) -> str:
        if token == sys.executable:
            return 'python'
        flag, sep, value = token.rpartition('=')
        if sep and flag.startswith('-') and osp.isabs(value):
            return f'{flag}={repo_relative(value)}'
        return repo_relative(token) if osp.isabs(token) else token

    return ' '.join(show(token) for token in argv)


def relative_text(text: str) -> str:
    r"""A log with the repository's absolute path removed and the
    interpreter's install prefixes shortened to ``<python>``."""
    text = text.replace(REPO_ROOT + os.sep, '')
    for prefix in sorted({sys.prefix, sys.base_prefix}, key=len,
                         reverse=True):
        text = text.replace(prefix + os.sep, '<python>' + os.sep)
    return text


def _absolute_paths(value: Any, where: str) -> List[str]:
    if isinstance(value, dict):
        return [hit for key, item in value.items()
                for hit in _absolute_paths(item, f'{where}.{key}')]
    if isinstance(value, (list, tuple)):
        return [hit for i, item in enumerate(value)
                for hit in _absolute_paths(item, f'{where}[{i}]')]
    if isinstance(value, str) and REPO_ROOT in value:
        return [where]
    return []


def write_text(path: str, text: str) -> None:
    r"""Writes :obj:`text` atomically (the package's
    :func:`~torch_geometric_infodcl.checkpoint.atomic_write`), creating the
    folder first."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_write(path, text)


def write_json(path: str, report: Dict[str, Any]) -> None:
    r"""Writes :obj:`report` atomically as indented JSON; refuses a report
    holding the repository's absolute path (naming the keys)."""
    found = _absolute_paths(report, 'report')
    if found:
        raise ValueError(f"{', '.join(found)} hold the absolute path "
                         f"'{REPO_ROOT}'; store it with repo_relative()")
    write_text(path, json.dumps(report, indent=2) + '\n')


# Real datasets ###############################################################

OFFICE_USERS, OFFICE_ITEMS = 4905, 2420
ML1M_USERS, ML1M_ITEMS = 6040, 3883  # item ids index movies.dat rows
ML1M_TRAIN_EDGES = 794784


def _dataset_file(data_root: str, *parts: str) -> str:
    path = osp.join(data_root, *parts)
    if not osp.isfile(path):
        raise FileNotFoundError(f"'{osp.join(*parts)}' not found under "
                                f"'{data_root}' (pass --data-root)")
    return path


def read_edges(data_root: str, *parts: str, num_users: int, num_items: int,
               lightgcn: bool = False) -> Tensor:
    r"""A (user, item) ``edge_index`` from a pair file (``u i`` lines) or a
    LightGCN file (``u i i ...``, :obj:`lightgcn=True`) under
    :obj:`data_root`, checked against the dataset's user and item
    counts."""
    path = _dataset_file(data_root, *parts)
    pairs = (read_lightgcn if lightgcn else read_pairs)(path)
    if pairs.size and (int(pairs[:, 0].max()) >= num_users
                       or int(pairs[:, 1].max()) >= num_items):
        raise ValueError(f"'{path}' has ids beyond {num_users} users and "
                         f"{num_items} items: not the expected file")
    return torch.from_numpy(np.ascontiguousarray(pairs.T))


def read_office(data_root: str, split: str = 'train') -> Tensor:
    return read_edges(data_root, 'office', f'{split}.txt',
                      num_users=OFFICE_USERS, num_items=OFFICE_ITEMS)


def read_office_embedding(data_root: str, file: str, rows: int) -> Tensor:
    r"""One of the Office ``.npy`` embedding files, checked as
    ``[rows, 64]``."""
    path = _dataset_file(data_root, 'office', file)
    array = np.load(path)
    if array.shape != (rows, 64):
        raise ValueError(f"'{path}' has shape {array.shape}, expected "
                         f"({rows}, 64)")
    return torch.from_numpy(array.astype(np.float32))


def read_ml1m(data_root: str, split: str = 'train') -> Tensor:
    edge_index = read_edges(data_root, 'ml-1m', 'full_mulsetrank',
                            f'{split}.txt', num_users=ML1M_USERS,
                            num_items=ML1M_ITEMS, lightgcn=True)
    if split == 'train' and edge_index.size(1) != ML1M_TRAIN_EDGES:
        raise ValueError(f"ML-1M training file has {edge_index.size(1)} "
                         f"pairs, expected {ML1M_TRAIN_EDGES}")
    return edge_index


# The command-line interface ##################################################

CLI = 'examples/train_infodcl.py'  # run from the repository root
# Where each dataset's raw files are under --data-root.
RAW_DIRS = {'office': 'office', 'ml-1m': 'ml-1m', 'baby': 'baby',
            'gowalla': 'gowalla'}
# The same optimiser protocol for every baseline; what differs is the model.
LIGHTGCN = ['--model', 'lightgcn', '--layers', '3', '--lr', '0.002',
            '--batch-size', '2048', '--baseline-reg', '1e-4']
MF = ['--model', 'mf', '--layers', '2', '--lr', '0.002', '--batch-size',
      '2048', '--baseline-reg', '1e-4']
# Per-dataset overrides of a model's flags. PyG's LightGCN propagates the
# whole ML-1M graph (1.4M directed edges) at every step: batch 8192 keeps an
# epoch affordable on 2 CPU cores.
OVERRIDES = {
    ('ml-1m', 'lightgcn'): ['--batch-size', '8192', '--lr', '0.005'],
}


def cli_command(dataset: str, root: str, output: str, data_root: str,
                threads: Optional[int], flags: Sequence[str],
                device: str = 'cpu', seed: Optional[int] = None) -> List[str]:
    r"""A call of the CLI with repository-relative paths (run it with
    :func:`run_cli`), so that the :obj:`results.json` it writes stores them
    relative too."""
    cmd = [sys.executable, CLI, '--dataset', dataset, '--root',
           repo_relative(root)]
    if seed is not None:
        cmd += ['--seed', str(seed)]
    cmd += ['--output', repo_relative(output), '--no-progress', '--device',
            device]
    if dataset in RAW_DIRS:
        cmd += ['--raw-dir',
                repo_relative(osp.join(data_root, RAW_DIRS[dataset]))]
    if threads:
        cmd += ['--threads', str(threads)]
    return cmd + list(flags)


def run_cli(cmd: Sequence[str]) -> subprocess.CompletedProcess:
    r"""Runs :obj:`cmd` from the repository root, stdout and stderr merged."""
    return subprocess.run(list(cmd), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


# Command line and report #####################################################


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected an integer >= 1, got '
                                         f'{text}')
    return value


def parser(doc: str, name: str, data: bool = True, thread_list: bool = False,
           out_help: Optional[str] = None) -> argparse.ArgumentParser:
    r"""The flags every script takes: ``--quick``, ``--threads`` (one
    count, or with :obj:`thread_list` several measured in turn), ``--out``
    (default ``benchmarks/results/<name>.json``, with ``--quick`` a file in
    the temporary folder so that a smoke test never overwrites committed
    results) and, with :obj:`data`, ``--data-root``."""
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true',
                   help='tiny sizes and repetitions (a smoke test of seconds '
                   'whose timings mean nothing)')
    p.add_argument('--threads', type=positive_int, default=None,
                   nargs='+' if thread_list else None,
                   help='torch thread counts, measured in turn' if thread_list
                   else 'torch threads (default: the torch default)')
    p.add_argument('--out', default=None, help=out_help or (
        f'JSON report (default: benchmarks/results/{name}.json; with '
        f'--quick {osp.join(QUICK_DIR, name)}.json)'))
    if data:
        p.add_argument('--data-root', default=DEFAULT_DATA_ROOT,
                       help='folder holding office/, ml-1m/, gowalla/ '
                       '(default: ../shared/data)')
    return p


def choices(parser: argparse.ArgumentParser, text: str,
            valid: Sequence[str], flag: str) -> List[str]:
    r"""The comma-separated names of :obj:`text`; an unknown one is a usage
    error naming it and the valid names."""
    chosen = [name for name in text.split(',') if name]
    unknown = [name for name in chosen if name not in valid]
    if unknown:
        parser.error(f"{flag}: unknown {unknown}; valid: {', '.join(valid)}")
    return chosen


def default_root(quick: bool) -> str:
    r"""The dataset cache root of the CLI runs: ``data`` in the repository
    (git-ignored), with ``--quick`` a folder in the temporary folder."""
    return osp.join(QUICK_DIR if quick else REPO_ROOT, 'data')


def output_path(args: argparse.Namespace, name: str) -> str:
    if args.out is not None:
        return args.out
    return osp.join(QUICK_DIR if args.quick else RESULTS_DIR, f'{name}.json')


def run_report(script: str, argv: Sequence[str], args: argparse.Namespace,
               name: str, settings: Dict[str, Any],
               study: Callable[[], Dict[str, Any]],
               describe: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    r"""Runs :obj:`study` between the header and the closing load average,
    writes the report to :func:`output_path`, prints it with
    :obj:`describe` and returns it."""
    if isinstance(args.threads, int):
        torch.set_num_threads(args.threads)
    report = dict(
        command=display_command([sys.executable, script, *argv]),
        time=time.strftime('%Y-%m-%dT%H:%M:%S%z'), quick=args.quick,
        machine=machine_info(), settings=settings,
        loadavg_before=load_average())
    start = time.perf_counter()
    report.update(study())
    report['loadavg_after'] = load_average()
    report['wall_seconds'] = time.perf_counter() - start
    out = output_path(args, name)
    write_json(out, report)
    machine = report['machine']
    print(f"{machine['cpu_model']}, {machine['usable_cpus']} cpus, "
          f"{machine['torch_threads']} torch threads; load before/after "
          f"{report['loadavg_before'][0]:.2f}/"
          f"{report['loadavg_after'][0]:.2f}"
          + ('  [QUICK: timings meaningless]' if args.quick else ''))
    describe(report)
    print(f'wrote {out}')
    return report


# Training steps ##############################################################


def full_batches(sampler: NegativeSampler, batch_size: int, count: int,
                 generator: torch.Generator) -> List[TrainBatch]:
    r"""The first :obj:`count` full-size batches of one epoch (fewer if the
    epoch has fewer; the timed loops cycle through them)."""
    batches = []
    for batch in sampler.epoch_batches(batch_size, generator):
        if len(batches) == count:
            break
        if batch.user.numel() == batch_size:
            batches.append(batch)
    if not batches:
        raise ValueError(f"{sampler.num_edges} training interactions give no "
                         f"full batch of {batch_size}")
    return batches


def make_batch_step(model: torch.nn.Module, bf16: bool = False,
                    lr: float = 0.005) -> Callable[[TrainBatch], Tensor]:
    r"""One optimisation step on a given batch per call, as :class:`Trainer`
    runs it (``zero_grad``, ``model.loss`` optionally under bf16 autocast,
    ``backward``, ``Adam.step``); returns the detached loss. The learning
    rate does not change the cost."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()

    def step(batch: TrainBatch) -> Tensor:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            total, _ = model.loss(batch)
        total.backward()
        optimizer.step()
        return total.detach()

    step.optimizer = optimizer
    return step


def make_train_step(model: torch.nn.Module, batches: List[TrainBatch],
                    bf16: bool = False,
                    lr: float = 0.005) -> Callable[[], Tensor]:
    r""":func:`make_batch_step` cycling through :obj:`batches`."""
    step_on = make_batch_step(model, bf16, lr)
    cycle = itertools.cycle(batches)
    return lambda: step_on(next(cycle))


def timed_steps(step: Callable[[], Tensor], runs: int, name: str,
                warmup: int = 1) -> Dict[str, Any]:
    r""":func:`summary` of :obj:`runs` steps after :obj:`warmup`, and the
    loss of one more step, which must be finite."""
    times = timed(step, runs, warmup)
    loss = float(step())
    if not math.isfinite(loss):
        raise FloatingPointError(f"{name}: non-finite training loss {loss}")
    return summary(times, last_loss=loss)


# Fresh processes #############################################################


def run_child(argv: Sequence[str]) -> Dict[str, Any]:
    r"""Runs :obj:`argv` (a Python command) in a fresh process and returns
    the JSON object on its last output line (see :func:`emit`), or
    ``{'status': 'failed', ...}`` with the tail of its error output."""
    done = subprocess.run(list(argv), capture_output=True, text=True)
    if done.returncode != 0:
        return dict(status='failed', returncode=done.returncode,
                    stderr_tail=relative_text(done.stderr[-2000:]))
    answer = done.stdout.strip().splitlines()[-1]
    return dict(status='ok', **json.loads(answer))


def emit(result: Dict[str, Any]) -> None:
    r"""A child's answer to :func:`run_child`: one JSON line, with the
    child's peak memory (:func:`peak_rss_mb`) added."""
    print(json.dumps(dict(result, peak_rss_mb=peak_rss_mb())))
