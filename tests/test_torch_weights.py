"""Legacy PyTorch checkpoints: the real EfficientNet-Lite0 file, crafted files, hostile files."""
import builtins
import collections
import io
import os
import pickle
import struct

import numpy as np
import pytest

from prodcluster import torch_weights
from prodcluster.efficientnet_lite import imagenet_weights_file
from prodcluster.torch_weights import CheckpointFormatError, UnsafePickleError, load_legacy_state_dict

SYSTEM_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


# Stand-ins pickled by reference; write_legacy renames them to the torch globals they mimic.
class FloatStorage:
    pass


class LongStorage:
    pass


def _rebuild_tensor_v2(*args):
    raise AssertionError("never called: the reader rebuilds tensors itself")


TORCH_NAMES = {
    f"{__name__}\nFloatStorage\n": "torch\nFloatStorage\n",
    f"{__name__}\nLongStorage\n": "torch\nLongStorage\n",
    f"{__name__}\n_rebuild_tensor_v2\n": "torch._utils\n_rebuild_tensor_v2\n",
}


class StorageId:
    def __init__(self, key, storage_type, size):
        self.pid = ("storage", storage_type, key, "cpu", size, None)


class Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.args = (storage, offset, shape, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return _rebuild_tensor_v2, self.args


class Hostile:
    """Unpickling this calls `function(argument)`."""

    def __init__(self, function, argument):
        self.call = (function, (argument,))

    def __reduce__(self):
        return self.call


class LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, StorageId) else None


def pickled(obj):
    """Protocol-2 pickle (as torch wrote), with the stand-in globals renamed to torch's."""
    buffer = io.BytesIO()
    LegacyPickler(buffer, protocol=2).dump(obj)
    data = buffer.getvalue()
    for stand_in, torch_name in TORCH_NAMES.items():
        data = data.replace(stand_in.encode(), torch_name.encode())
    return data


def write_legacy(path, state, storages, header=(torch_weights.LEGACY_MAGIC,)):
    """Write the legacy layout: magic, protocol, system info, state dict, keys, storage bytes."""
    with open(path, "wb") as handle:
        for item in header:
            handle.write(pickled(item))
        handle.write(pickled(torch_weights.LEGACY_PROTOCOL))
        handle.write(pickled(SYSTEM_INFO))
        handle.write(pickled(state))
        handle.write(pickled(list(storages)))
        for values in storages.values():
            handle.write(struct.pack("<q", values.size))
            handle.write(values.tobytes())
    return path


def test_real_efficientnet_lite0_checkpoint():
    state = load_legacy_state_dict(imagenet_weights_file())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.running_var"].dtype == np.float32 and (state["_bn0.running_var"] >= 0).all()
    assert state["_bn0.num_batches_tracked"].dtype == np.int64 and state["_bn0.num_batches_tracked"].shape == ()


def test_strides_offsets_and_shared_storage(tmp_path):
    values = np.arange(20, dtype="<f4")
    floats = StorageId("7", FloatStorage, values.size)
    counts = StorageId("9", LongStorage, 1)
    state = collections.OrderedDict(
        transposed=Tensor(floats, 2, (3, 4), (1, 3)),
        row=Tensor(floats, 5, (4,), (1,)),
        repeated=Tensor(floats, 1, (2, 3), (0, 2)),
        count=Tensor(counts, 0, (), ()),
    )
    storages = {"7": values, "9": np.array([12345], dtype="<i8")}
    arrays = load_legacy_state_dict(write_legacy(tmp_path / "tiny.pth", state, storages))

    assert list(arrays) == ["transposed", "row", "repeated", "count"]
    np.testing.assert_array_equal(arrays["transposed"], values[2 + np.arange(3)[:, None] + 3 * np.arange(4)])
    np.testing.assert_array_equal(arrays["row"], [5, 6, 7, 8])
    np.testing.assert_array_equal(arrays["repeated"], [[1, 3, 5], [1, 3, 5]])
    assert arrays["count"].shape == () and arrays["count"] == 12345


@pytest.mark.parametrize(
    "function, code",
    [(os.system, "touch {marker}"), (builtins.exec, "open({marker!r}, 'w').close()")],
)
@pytest.mark.parametrize("in_header", [False, True])
def test_hostile_pickle_is_refused_without_running(tmp_path, function, code, in_header):
    marker = tmp_path / "marker"
    hostile = Hostile(function, code.format(marker=str(marker)))
    if in_header:
        path = write_legacy(tmp_path / "bad.pth", {}, {}, header=(hostile,))
    else:
        path = write_legacy(tmp_path / "bad.pth", {"weight": hostile}, {})
    # Protocol 2 may spell a module by its Python 2 name (builtins -> __builtin__).
    with pytest.raises(UnsafePickleError, match=rf"global \w+\.{function.__name__}\b"):
        load_legacy_state_dict(path)
    assert not marker.exists()


def test_truncated_file_is_rejected(tmp_path):
    floats = StorageId("1", FloatStorage, 6)
    path = write_legacy(tmp_path / "cut.pth", {"w": Tensor(floats, 0, (2, 3), (3, 1))}, {"1": np.ones(6, "<f4")})
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        load_legacy_state_dict(path)


def test_tensor_past_its_storage_is_rejected(tmp_path):
    floats = StorageId("1", FloatStorage, 6)
    path = write_legacy(tmp_path / "long.pth", {"w": Tensor(floats, 1, (2, 3), (3, 1))}, {"1": np.ones(6, "<f4")})
    with pytest.raises(CheckpointFormatError, match="past the end"):
        load_legacy_state_dict(path)


def test_zip_checkpoint_is_named(tmp_path):
    path = tmp_path / "new.pth"
    path.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(CheckpointFormatError, match="zip-format"):
        load_legacy_state_dict(path)


def test_other_file_is_rejected(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointFormatError, match="not a legacy PyTorch checkpoint"):
        load_legacy_state_dict(path)
