r"""Writing test files (plain or gzip-compressed)."""
import gzip
import io
import os
import os.path as osp

import numpy as np


def write(path, text, gz=False, encoding='utf-8'):
    path = str(path)
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    data = text.encode(encoding) if isinstance(text, str) else text
    with (gzip.open(path, 'wb') if gz else open(path, 'wb')) as f:
        f.write(data)
    return path


def save_npy(path, arr, gz=False):
    buf = io.BytesIO()
    np.save(buf, arr)
    return write(path, buf.getvalue(), gz=gz)
