import mmap
import os
import resource

import numpy as np
import pytest

from torch_geometric_infodcl import profile
from torch_geometric_infodcl.profile import peak_rss_mb

MIB = 2**20


def current_rss_mb() -> float:
    # Independent of VmHWM: resident pages from /proc/self/statm.
    with open('/proc/self/statm') as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf('SC_PAGE_SIZE') / MIB


@pytest.mark.skipif(not os.path.isfile('/proc/self/statm'),
                    reason='needs /proc')
def test_peak_rss_follows_a_new_high_water_mark():
    before = peak_rss_mb()
    rss = current_rss_mb()
    assert before >= rss - 1  # a peak is never below the current size

    # Touch enough fresh memory to lift the resident size above the old peak:
    # an anonymous mapping is never served from pages already resident.
    extra_mb = int(before - rss) + 64
    block = mmap.mmap(-1, extra_mb * MIB)
    np.frombuffer(block, dtype=np.uint8)[::4096] = 1  # one write per page
    lifted = current_rss_mb()
    assert lifted >= rss + extra_mb - 16
    assert peak_rss_mb() >= lifted - 1
    assert peak_rss_mb() > before
    block.close()


def test_peak_rss_falls_back_to_ru_maxrss(monkeypatch, tmp_path):
    monkeypatch.setattr(profile, 'PROC_STATUS', str(tmp_path / 'missing'))
    expected = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_rss_mb() == pytest.approx(expected, abs=1)


def test_status_file_without_vmhwm_is_an_error(monkeypatch, tmp_path):
    status = tmp_path / 'status'
    status.write_text('Name:\tpython\nVmRSS:\t  1000 kB\n')
    monkeypatch.setattr(profile, 'PROC_STATUS', str(status))
    with pytest.raises(RuntimeError, match="has no 'VmHWM' line"):
        peak_rss_mb()


def test_reads_vmhwm_in_mib(monkeypatch, tmp_path):
    status = tmp_path / 'status'
    status.write_text('VmPeak:\t 9999 kB\nVmHWM:\t  51200 kB\n')
    monkeypatch.setattr(profile, 'PROC_STATUS', str(status))
    assert peak_rss_mb() == 50.0
