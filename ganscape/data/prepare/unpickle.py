"""Reading dataset pickles without trusting them: a restricted unpickler.

``pickle.load`` runs whatever callable a file names, so a doctored ``data_batch_1`` could call ``os.system``. The
CIFAR python batches hold only dicts, lists, str/bytes, ints and NumPy arrays, so ``safe_load`` allows exactly the
globals NumPy's array pickling uses — under both NumPy 1 (``numpy.core``) and NumPy 2 (``numpy._core``) module
names — and refuses any other global before it is looked up, let alone called. Even the allowed ones are narrowed
to their pickling use: ``numpy.ndarray`` only as a type tag for reconstruction, ``numpy.dtype`` only for plain
numeric types in the state NumPy writes for them, ``_codecs.encode`` only to latin-1. A dtype's state can otherwise
declare object fields over raw bytes of the file (a pointer the file chooses, dereferenced when the array is read), so
the state of every object the pickle builds is checked too (``load_build``): only arrays and plain dtypes take one."""
from __future__ import annotations

import io
import pickle
import re

import numpy as np

try:  # NumPy 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1
    from numpy.core.multiarray import _reconstruct

class ArrayType:
    """Stands for ``numpy.ndarray`` in a pickle: usable only as ``_reconstruct``'s subtype argument, not callable,
    so a pickle cannot build an array over a buffer of its choosing (e.g. 3 TB of zero strides)."""

    def __new__(cls, *args, **kwargs):
        raise pickle.UnpicklingError("numpy.ndarray(...) called directly; NumPy's array pickles never call it")


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


def plain_dtype(spec, align: bool = False, copy: bool = False) -> np.dtype:
    """``numpy.dtype`` as NumPy's pickling calls it, for a plain numeric type code only ('u1', 'i8', 'f4', 'b1', ...):
    no structured, object, void or string type."""
    if not isinstance(spec, str) or not re.fullmatch(r"[biuf]\d{1,2}", spec):
        raise pickle.UnpicklingError(f"numpy.dtype({spec!r}): only plain numeric types are read")
    return np.dtype(spec, False, True)  # a copy always: its state is set next, never a shared built-in dtype's


def check_dtype_state(state) -> None:
    """The state NumPy writes for a plain dtype: (3, byte order, None, None, None, -1, -1, 0), i.e. no subarray, no
    field names or fields, default size and alignment, no flags."""
    if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in ("<", ">", "|", "=")
            and state[2:] == (None, None, None, -1, -1, 0)):
        raise pickle.UnpicklingError(f"numpy.dtype state {state!r} is not a plain numeric type's")


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
    ("numpy", "dtype"): plain_dtype,
    ("_codecs", "encode"): encode_latin1,  # how Python 3 writes bytes in protocol-2 pickles
}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global outside ``ALLOWED``; ``name`` is ``module.attribute``."""

    def __init__(self, name: str):
        super().__init__(f"refers to {name}")
        self.name = name


class RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (its BUILD step can be checked; the C one's cannot) with ``ALLOWED`` globals only."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"{module}.{name}") from None

    def load_build(self) -> None:
        """BUILD (set an object's state) for arrays and plain dtypes only: on the ``ArrayType`` class it would set
        its attributes, on a dtype a forged state would declare fields over raw bytes."""
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.dtype):
            check_dtype_state(state)
        elif type(inst) is not np.ndarray:
            raise pickle.UnpicklingError(f"setting the state of {type(inst).__name__}")
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def load_out_of_band(self) -> None:
        """Protocol 5's buffers: BYTEARRAY8 allocates the length the file names before reading it (12 bytes ask for
        4 GB), and the out-of-band ones have no source here. CIFAR's pickles are protocol 2."""
        raise pickle.UnpicklingError("uses protocol 5's byte arrays or out-of-band buffers, which a CIFAR file never "
                                     "holds (its pickles are protocol 2)")

    dispatch.update(dict.fromkeys((pickle.BYTEARRAY8[0], pickle.NEXT_BUFFER[0], pickle.READONLY_BUFFER[0]),
                                  load_out_of_band))


def safe_load(data: bytes):
    """Unpickle ``data`` (latin-1 for Python 2 strings, as the CIFAR files need) allowing only ``ALLOWED`` globals.
    Raises RefusedGlobal for anything else and pickle.UnpicklingError, its message never empty, for a corrupt or
    truncated pickle (whatever the pure-Python unpickler tripped on: an unknown opcode, a cut length field, ...)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        if str(err):
            raise
        raise pickle.UnpicklingError("corrupt pickle") from None
    except EOFError:
        raise pickle.UnpicklingError("truncated: it ends before its STOP opcode") from None
    except MemoryError:
        raise pickle.UnpicklingError("corrupt pickle: it asks for more memory than this machine has") from None
    except Exception as err:  # noqa: BLE001 - any other slip of the unpickler on bytes it was not written for
        raise pickle.UnpicklingError(f"corrupt pickle ({type(err).__name__}: {err})") from None
