"""One BLAS thread for a block of small matrix products.

numpy's OpenBLAS runs every product on all cores, and its threads wait for work by
spinning: for the many small products of resampling (tens of MFLOP each) on a busy
machine, the second thread's waiting costs far more than it saves (a 50 x 3,858 by
3,858 x 130 product: 3 ms on one thread, 0.3-0.4 s on two beside other work). Where the
library cannot be found, nothing changes.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")


@cache
def _openblas() -> tuple | None:
    import numpy as np

    libs = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(libs.glob("*openblas*.so*")) if libs.is_dir() else ():
        try:
            lib = ctypes.CDLL(str(path))  # already loaded by numpy: the same library
        except OSError:
            continue
        for set_name, get_name in zip(_SETTERS, _GETTERS):
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                getter.restype = ctypes.c_int
                return setter, getter
    return None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    found = _openblas()
    if found is None:
        yield
        return
    setter, getter = found
    before = getter()
    setter(1)
    try:
        yield
    finally:
        setter(before)
