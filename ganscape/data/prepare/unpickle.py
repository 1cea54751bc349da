"""Reading dataset pickles without trusting them: a restricted unpickler.

``pickle.load`` runs whatever callable a file names, so a doctored ``data_batch_1`` could call ``os.system``. The
CIFAR python batches hold only dicts, lists, str/bytes, ints and NumPy arrays, so ``safe_load`` allows exactly the
globals NumPy's array pickling uses — under both NumPy 1 (``numpy.core``) and NumPy 2 (``numpy._core``) module
names — and refuses any other global before it is looked up, let alone called."""
from __future__ import annotations

import codecs
import io
import pickle

import numpy as np

try:  # NumPy 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1
    from numpy.core.multiarray import _reconstruct

ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes in protocol-2 pickles
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside ``ALLOWED``; ``name`` is ``module.attribute``."""

    def __init__(self, name: str):
        super().__init__(f"refers to {name}")
        self.name = name


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None


def safe_load(data: bytes):
    """Unpickle ``data`` (latin-1 for Python 2 strings, as the CIFAR files need) allowing only ``ALLOWED`` globals.
    Raises RefusedGlobal for anything else, pickle.UnpicklingError/EOFError/ValueError for corrupt data."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
