r"""OpenMP's waiting default, set before torch loads its thread pool.

Torch's CPU kernels run on an OpenMP pool (GNU libgomp in the pip wheels)
whose idle threads spin for a while at every barrier before they sleep. Two
training runs on the same cores then steal each other's time at every small
kernel: on 2 cores, two default-threaded runs took about 70x a lone run's
epoch. Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``) cures that but costs a
lone run about 30 % (synthetic InfoDCL epoch, 2 idle cores: 1.22 s against
0.94 s, ``benchmarks/results/epoch-passive-default.json``). A short spin,
``GOMP_SPINCOUNT=1000``, keeps the lone run within 4 % of OpenMP's default
and leaves two runs side by side at 2.1-2.2x a lone epoch
(``benchmarks/results/epoch.json``, ``benchmarks/bench_epoch.py``). OpenMP
reads these variables once, when the pool starts, so this module has no
dependency and runs from the top of the package's ``__init__``, before
torch is imported; an explicit
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is left untouched, and nothing is
changed when torch is already loaded.
"""
import os
import sys

SPIN_COUNT = '1000'
WAIT_VARIABLES = ('OMP_WAIT_POLICY', 'GOMP_SPINCOUNT')


def set_default_wait() -> bool:
    r"""Sets :obj:`GOMP_SPINCOUNT` to :obj:`SPIN_COUNT` unless a waiting
    variable is set or torch is already loaded; returns whether it did."""
    if 'torch' in sys.modules or any(v in os.environ for v in WAIT_VARIABLES):
        return False
    os.environ['GOMP_SPINCOUNT'] = SPIN_COUNT
    return True
