r"""Comparing the :obj:`results.json` of two runs of the same computation
(an uninterrupted run and a killed-and-resumed one)."""
from typing import Any, Dict

# Fields that differ between runs by design: wall-clock times, the run id
# and the record of sessions (a resumed run has two).
VOLATILE = ('epoch_seconds', 'epoch_seconds_median', 'time_to_best_seconds',
            'metadata_seconds', 'peak_rss_mb', 'run_id', 'sessions')


def comparable(results: Dict[str, Any]) -> Dict[str, Any]:
    r"""The results without their volatile fields (nor the output folder,
    the evaluations' seconds and run ids)."""
    out = {k: v for k, v in results.items() if k not in VOLATILE}
    out['config'] = {k: v for k, v in results['config'].items()
                     if k != 'output'}
    out['history'] = [{k: v for k, v in row.items()
                       if 'seconds' not in k and k != 'run_id'}
                      for row in results['history']]
    return out
