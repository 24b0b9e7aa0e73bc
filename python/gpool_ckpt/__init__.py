"""gpool_ckpt: save and load training checkpoints in a gpool checkpoint store.

A checkpoint is a mapping of names to arrays plus metadata (step, epoch, data-loader position and
free keys). The store is a directory (see docs/checkpoint.md): content-addressed, compressed
chunks, a manifest per checkpoint and a ``latest`` pointer, each save published atomically.

    import gpool_ckpt
    gpool_ckpt.save({"w": w, "b": b}, step=100, meta={"lr": 3e-4}, store="/data/ckpt/run-7")
    state, meta = gpool_ckpt.load(store="/data/ckpt/run-7")      # latest
    w, lr = state["w"], meta["lr"]

Values (what ``state`` may map names to):
  * numpy arrays (and numpy scalars, and any object with the buffer protocol or ``__array__``,
    taken through ``numpy.asarray``) of float32, float16, float64, int8, int16, int32, int64,
    uint8 or bool, any shape including 0-d and empty. A non-C-contiguous array is saved from a
    contiguous copy; big-endian arrays are saved as little-endian. Any other dtype (complex64,
    uint16, strings, objects) raises TypeError naming the key.
  * ``bytes`` and ``bytearray``: saved as an opaque blob, loaded back as ``bytes``.
  * PyTorch tensors, when torch is importable (torch is never imported unless a value is a torch
    tensor or ``load(as_torch=True)`` asks for it): float32, float16, bfloat16, float64, int8,
    int16, int32, int64, uint8, bool. They are detached and copied to the CPU (``.detach().cpu()``)
    first. numpy has no bfloat16: a bfloat16 tensor is saved from its 16-bit patterns (dtype bf16
    in the store) and, loaded as numpy, comes back as a uint16 array of those patterns.

Loading gives numpy arrays, except for entries that were saved from torch tensors, which come
back as torch tensors when torch is importable (``as_torch=True`` forces torch tensors for every
array, ``as_torch=False`` forces numpy). Loaded arrays are writable and own their memory.
Bytes are kept bit for bit (NaN payloads, -0.0, bfloat16 patterns).

Metadata: ``meta`` maps str keys to values. A str value is stored verbatim; any other value is
stored JSON-encoded and decoded back on load, so int, float (repr-exact, also nan/inf), bool,
None, and lists/dicts of them come back equal (a tuple comes back as a list, a dict's non-str
keys as str). A value json cannot encode raises TypeError naming the key. ``load`` returns meta
as a dict with "step", "epoch", "loader_position" and the free keys. Keys starting with
"gpool.python." are this module's own (which entries came from torch, which values are JSON).
The dict ``load`` returns can be passed back to ``save``: its "step" is ignored (the ``step``
argument wins), its "epoch" and "loader_position" are used unless given as arguments.

The store: the ``store`` argument, else the environment variable GPOOL_CKPT_STORE (what a job
started by gpool gets), else ValueError.

Errors: ValueError for bad input (a bad name, a dtype the store does not know), FileNotFoundError
naming the checkpoint or store when it does not exist, OSError when the filesystem fails,
RuntimeError for damaged data (a chunk that fails its checksum or hash, naming tensor and chunk).

Checkpoint on request: ``install_checkpoint_handler()`` makes SIGUSR1 set a flag; the next
``Writer.maybe_checkpoint(...)`` in the training loop saves and, with ``exit=True``, raises
SystemExit(CHECKPOINTED_EXIT_CODE) = 75: "checkpointed, ready to move".
"""

import json
import numbers
import os
import signal as _signal
from collections.abc import Mapping

import numpy as np

from . import _native

__all__ = [
    "CHECKPOINTED_EXIT_CODE",
    "STORE_ENV",
    "Writer",
    "save",
    "load",
    "install_checkpoint_handler",
    "checkpoint_requested",
    "request_checkpoint",
    "clear_checkpoint_request",
    "default_staging_bytes",
]

#: The exit code of a job that checkpointed on request and is ready to move (EX_TEMPFAIL).
CHECKPOINTED_EXIT_CODE = _native.CHECKPOINTED_EXIT_CODE
#: The environment variable naming the default store.
STORE_ENV = "GPOOL_CKPT_STORE"

_PREFIX = "gpool.python."
_TORCH_KEY = _PREFIX + "torch"  # JSON list of the entries saved from torch tensors
_JSON_KEY = _PREFIX + "json"  # JSON list of the meta keys whose values are JSON-encoded
_FIELDS = ("step", "epoch", "loader_position")

# numpy (kind, itemsize) -> store dtype.
_FROM_NUMPY = {
    ("f", 4): "f32",
    ("f", 2): "f16",
    ("f", 8): "f64",
    ("i", 1): "i8",
    ("i", 2): "i16",
    ("i", 4): "i32",
    ("i", 8): "i64",
    ("u", 1): "u8",
    ("b", 1): "bool",
}
# store dtype -> numpy dtype of the loaded array (little-endian, as the store keeps them).
_TO_NUMPY = {
    "f32": np.dtype("<f4"),
    "f16": np.dtype("<f2"),
    "bf16": np.dtype("<u2"),  # numpy has no bfloat16: the bit patterns
    "f64": np.dtype("<f8"),
    "i8": np.dtype("i1"),
    "i16": np.dtype("<i2"),
    "i32": np.dtype("<i4"),
    "i64": np.dtype("<i8"),
    "u8": np.dtype("u1"),
    "bool": np.dtype("?"),
}
_NUMPY_SUPPORTED = "float32, float16, float64, int8, int16, int32, int64, uint8, bool"
# str(torch dtype) without "torch." -> store dtype.
_FROM_TORCH = {
    "float32": "f32",
    "float16": "f16",
    "bfloat16": "bf16",
    "float64": "f64",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "bool": "bool",
}


def default_staging_bytes():
    """The staging bound a Writer gets by default: a quarter of MemAvailable, at least 64 MiB."""
    return _native.default_staging_bytes()


def install_checkpoint_handler(signum=_signal.SIGUSR1):
    """Makes `signum` (default SIGUSR1) request a checkpoint: its handler (a C handler, which
    replaces any Python handler of that signal) only sets a flag that the next
    Writer.maybe_checkpoint sees. Calling it again is harmless. ValueError for SIGKILL/SIGSTOP."""
    _native.install_checkpoint_handler(int(signum))


def checkpoint_requested():
    """True when a checkpoint was requested (signal or request_checkpoint) and not yet saved."""
    return _native.checkpoint_requested()


def request_checkpoint():
    """Requests a checkpoint without a signal: the next maybe_checkpoint saves."""
    _native.request_checkpoint()


def clear_checkpoint_request():
    """Forgets a pending request."""
    _native.clear_checkpoint_request()


def _store_root(store):
    if store is None:
        store = os.environ.get(STORE_ENV)
        if not store:
            raise ValueError(
                "no checkpoint store: pass store=DIR or set the environment variable " + STORE_ENV
            )
    return os.fspath(store)


def _is_torch(value):
    return type(value).__module__.startswith("torch")


def _torch_entry(key, value):
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"state[{key!r}]: {type(value).__name__} is not a tensor or an array")
    dtype = _FROM_TORCH.get(str(value.dtype).replace("torch.", ""))
    if dtype is None:
        raise TypeError(
            f"state[{key!r}]: torch dtype {value.dtype} is not supported "
            f"(supported: {', '.join(_FROM_TORCH)})"
        )
    t = value.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous()
    array = t.view(torch.int16).numpy() if dtype == "bf16" else t.numpy()
    return (key, dtype, tuple(int(d) for d in t.shape), array)


def _numpy_entry(key, value):
    if isinstance(value, (bytes, bytearray)):
        return (key, "blob", (), value)
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, np.generic) or hasattr(value, "__array__"):
        array = np.asarray(value)
    else:
        try:
            array = np.asarray(memoryview(value))
        except TypeError:
            raise TypeError(
                f"state[{key!r}]: {type(value).__name__} is not an array, a torch tensor "
                "or bytes (nor has it the buffer protocol)"
            ) from None
    dtype = _FROM_NUMPY.get((array.dtype.kind, array.dtype.itemsize))
    if dtype is None or array.dtype.fields is not None:
        raise TypeError(
            f"state[{key!r}]: dtype {array.dtype} is not supported (supported: {_NUMPY_SUPPORTED})"
        )
    if array.dtype.itemsize > 1 and array.dtype.str[0] != "<":
        array = array.astype(array.dtype.newbyteorder("<"))  # the store keeps little-endian
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)  # ndim >= 1 here: a 0-d array is always contiguous
    return (key, dtype, tuple(int(d) for d in array.shape), array)


def _entries(state):
    """(name, dtype, shape, buffer) for every value, and the names that came from torch."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping of names to arrays, not {type(state).__name__}")
    entries, from_torch = [], []
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"state keys must be str, got {key!r}")
        if _is_torch(value):
            entries.append(_torch_entry(key, value))
            from_torch.append(key)
        else:
            entries.append(_numpy_entry(key, value))
    return entries, from_torch


def _metadata(meta, epoch, loader_position, from_torch):
    """(epoch, loader_position, extra) for the native layer."""
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping, not {type(meta).__name__}")
    extra, json_keys = {}, []
    for key, value in meta.items():
        if not isinstance(key, str):
            raise TypeError(f"meta keys must be str, got {key!r}")
        if key == "step":
            continue  # the step argument wins
        if key == "epoch":
            epoch = value if epoch is None else epoch
            continue
        if key == "loader_position":
            loader_position = value if loader_position is None else loader_position
            continue
        if key.startswith(_PREFIX):
            raise ValueError(f"meta[{key!r}]: keys starting with {_PREFIX!r} are reserved")
        if isinstance(value, str):
            extra[key] = value
            continue
        try:
            extra[key] = json.dumps(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"meta[{key!r}]: neither a str nor JSON-encodable: {e}") from None
        json_keys.append(key)
    epoch = 0 if epoch is None else epoch
    loader_position = "" if loader_position is None else loader_position
    if not isinstance(epoch, numbers.Integral):
        raise TypeError(f"epoch must be an int, not {type(epoch).__name__}")
    if not isinstance(loader_position, str):
        raise TypeError(
            f"loader_position must be a str (json.dumps structured state), "
            f"not {type(loader_position).__name__}"
        )
    if json_keys:
        extra[_JSON_KEY] = json.dumps(sorted(json_keys))
    if from_torch:
        extra[_TORCH_KEY] = json.dumps(sorted(from_torch))
    return int(epoch), loader_position, extra


def _step(step):
    if not isinstance(step, numbers.Integral):
        raise TypeError(f"step must be an int, not {type(step).__name__}")
    return int(step)


class Writer:
    """Saves checkpoints into one store, synchronously or asynchronously.

    Writer(store=None, staging_bytes=None, *, zstd_level=1): opens (creates) the store (default:
    $GPOOL_CKPT_STORE). ``staging_bytes`` bounds the bytes held for asynchronous saves (default
    default_staging_bytes(): a quarter of the memory available now, at least 64 MiB).

    One writer per store, used from one thread. Use it as a context manager, or call close(),
    to wait for queued saves and see their errors; a writer that is garbage collected still
    finishes its queued saves but can no longer report a failure.
    """

    def __init__(self, store=None, staging_bytes=None, *, zstd_level=1):
        self.store = _store_root(store)
        self._native = _native.Writer(
            self.store, 0 if staging_bytes is None else int(staging_bytes), int(zstd_level)
        )

    @property
    def staging_bytes(self):
        """The staging bound in bytes."""
        return self._native.staging_bytes

    def save(self, state, step, meta=None, *, name=None, epoch=None, loader_position=None):
        """Saves `state` (after any queued asynchronous saves) and returns once it is durable
        and ``latest`` points at it. Returns the checkpoint's name: `name`, or "step-<step>".
        epoch (default 0) and loader_position (default "") may also come from `meta`."""
        entries, from_torch = _entries(state)
        epoch, loader_position, extra = _metadata(meta, epoch, loader_position, from_torch)
        step = _step(step)
        name = name or f"step-{step}"
        self._native.save(entries, step, epoch, loader_position, extra, name)
        return name

    def save_async(self, state, step, meta=None, *, name=None, epoch=None, loader_position=None):
        """Copies `state` into the staging buffer, queues the save and returns: the arrays may
        be changed as soon as it returns; the background thread (which never takes the GIL)
        hashes, compresses and writes. Waits, with the GIL released, while queued saves hold
        too much of the staging bound. Returns True when queued, False when the checkpoint is
        larger than the whole bound and was saved synchronously instead. A queued save that
        fails raises from the next save, save_async, maybe_checkpoint, wait or close, once.
        (torch GPU tensors are copied to the CPU before the call returns.)"""
        entries, from_torch = _entries(state)
        epoch, loader_position, extra = _metadata(meta, epoch, loader_position, from_torch)
        step = _step(step)
        return self._native.save_async(
            entries, step, epoch, loader_position, extra, name or f"step-{step}"
        )

    def wait(self):
        """Waits until every queued save is published; raises the first failure not reported."""
        self._native.wait()

    def maybe_checkpoint(
        self, state_fn, step, meta=None, *, name=None, epoch=None, loader_position=None, exit=False
    ):
        """The training loop's safe point (call it between steps). If a checkpoint was
        requested (SIGUSR1 after install_checkpoint_handler(), or request_checkpoint()):
        clears the request, saves ``state_fn()`` synchronously and returns True — or, with
        exit=True, raises SystemExit(CHECKPOINTED_EXIT_CODE) after the save is durable.
        Otherwise returns False at the cost of one flag read (state_fn is not called).
        If the save fails the request stays set and the error is raised."""
        if not _native.checkpoint_requested():
            return False
        _native.clear_checkpoint_request()  # before the save: a request during it is kept
        try:
            self.save(
                state_fn(), step, meta, name=name, epoch=epoch, loader_position=loader_position
            )
        except BaseException:
            _native.request_checkpoint()  # not done: the next safe point tries again
            raise
        if exit:
            raise SystemExit(CHECKPOINTED_EXIT_CODE)
        return True

    def close(self):
        """Waits for the queued saves and stops the writer; raises a failure not yet reported.
        Calling it again does nothing."""
        self._native.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def save(state, step, meta=None, *, store=None, name=None, epoch=None, loader_position=None):
    """Saves `state` as checkpoint `name` (default "step-<step>") of `store` (default
    $GPOOL_CKPT_STORE) and points ``latest`` at it; returns when it is durable. Returns the
    checkpoint's name. See the module docstring for values and metadata; Writer for repeated
    and asynchronous saves. Do not use it on a store that an open Writer writes."""
    with Writer(store) as writer:
        return writer.save(
            state, step, meta, name=name, epoch=epoch, loader_position=loader_position
        )


def _as_torch(array, dtype):
    import torch

    if dtype == "bf16":
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def load(name="latest", *, store=None, as_torch=None, sha256=False):
    """Loads checkpoint `name` (default: the one ``latest`` points at) from `store` (default
    $GPOOL_CKPT_STORE), checking every chunk: by the content checksum in its file (finds any
    damaged or truncated file), or with sha256=True by its SHA-256 too (also finds a whole file
    holding another chunk's bytes; slower). Returns ``(state, meta)``: state maps
    names to numpy arrays (bytes for blobs; torch tensors for entries saved from torch when
    torch is importable — as_torch=True: torch for every array, ImportError without torch;
    as_torch=False: numpy only); meta is a dict of "step", "epoch", "loader_position" and the
    free keys. FileNotFoundError naming the checkpoint (or the store) if it does not exist."""
    root = _store_root(store)
    _, tensors, step, epoch, loader_position, extra = _native.load(root, name, sha256)
    saved_from_torch = set(json.loads(extra.get(_TORCH_KEY, "[]")))
    if as_torch is None and saved_from_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            as_torch = False
    state = {}
    for tensor, dtype, shape, data in tensors:
        if dtype == "blob":
            state[tensor] = bytes(data)
            continue
        array = np.frombuffer(data, dtype=np.uint8).view(_TO_NUMPY[dtype]).reshape(shape)
        if as_torch or (as_torch is None and tensor in saved_from_torch):
            state[tensor] = _as_torch(array, dtype)
        else:
            state[tensor] = array
    json_keys = set(json.loads(extra.get(_JSON_KEY, "[]")))
    meta = {"step": step, "epoch": epoch, "loader_position": loader_position}
    for key, value in extra.items():
        if key.startswith(_PREFIX) or key in _FIELDS:
            continue  # this module's own keys; a free key named like a field loses to it
        meta[key] = json.loads(value) if key in json_keys else value
    return state, meta
