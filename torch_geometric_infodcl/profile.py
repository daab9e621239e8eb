r"""Resource usage of the running process, as :mod:`torch_geometric.profile`
offers for GPU memory: the one peak-memory measure the CLI's
:obj:`results.json` and the benchmarks report."""
import os.path as osp
import sys

PROC_STATUS = '/proc/self/status'


def peak_rss_mb() -> float:
    r"""Peak resident memory of this process image, in MiB.

    Reads :obj:`VmHWM` (the resident-set high-water mark) from
    :obj:`/proc/self/status` where it exists (Linux). It belongs to the
    process image alone: :obj:`ru_maxrss`, by contrast, carries the
    launching process's resident size over :obj:`fork` / :obj:`exec` on
    Linux (a child of a 500 MiB parent reports at least 500 MiB), so it is
    only the fallback where :obj:`/proc` is missing (macOS reports it in
    bytes, other systems in KiB).
    """
    if osp.isfile(PROC_STATUS):
        with open(PROC_STATUS) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024  # kB
        raise RuntimeError(f"'{PROC_STATUS}' has no 'VmHWM' line")
    try:
        import resource
    except ImportError:  # Windows has neither /proc nor getrusage
        raise OSError(f"peak memory needs '{PROC_STATUS}' or the 'resource' "
                      f"module; this platform ({sys.platform}) has "
                      f"neither") from None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == 'darwin' else maxrss / 1024
