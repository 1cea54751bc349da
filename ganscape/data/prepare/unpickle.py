"""Reading dataset pickles without trusting them: a restricted unpickler.

``pickle.load`` runs whatever callable a file names, so a doctored ``data_batch_1`` could call ``os.system``. The
CIFAR python batches hold only dicts, lists, str/bytes, ints and NumPy arrays, so ``safe_load`` allows exactly the
globals NumPy's array pickling uses — under both NumPy 1 (``numpy.core``) and NumPy 2 (``numpy._core``) module
names — and refuses any other global before it is looked up, let alone called. Even the allowed ones are narrowed
to their pickling use: ``numpy.ndarray`` only as a type tag for reconstruction, ``_codecs.encode`` only to latin-1."""
from __future__ import annotations

import io
import pickle

import numpy as np

try:  # NumPy 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1
    from numpy.core.multiarray import _reconstruct

class ArrayType:
    """Stands for ``numpy.ndarray`` in a pickle: usable only as ``_reconstruct``'s subtype argument, not callable,
    so a pickle cannot build an array over a buffer of its choosing (e.g. 3 TB of zero strides)."""


def reconstruct(subtype, shape, dtype):
    """``_reconstruct`` for plain arrays only, and only as NumPy's pickling calls it: an empty placeholder of shape
    ``(0,)``, which ``__setstate__`` then fills with the file's bytes (checking that they match the shape it
    names). Any other shape would make an array of uninitialised memory as large as the pickle asks, whether or
    not its bytes follow, so an array is never larger than the bytes in the file."""
    if subtype is not ArrayType:
        raise pickle.UnpicklingError("array reconstruction of a type other than numpy.ndarray")
    if tuple(shape) != (0,):
        raise pickle.UnpicklingError(f"array reconstruction with shape {tuple(shape)}; NumPy writes (0,) and sets "
                                     "the data afterwards")
    return _reconstruct(np.ndarray, shape, dtype)


def encode_latin1(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: latin-1 only (other codecs can be slow on
    purpose-made input)."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): reconstruct,
    ("numpy", "ndarray"): ArrayType,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): encode_latin1,  # how Python 3 writes bytes in protocol-2 pickles
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
