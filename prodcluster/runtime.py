"""Stage 03's network run by LiteRT (TensorFlow Lite with the XNNPACK CPU kernels) instead of Keras.

The Keras network is converted once and the flat-buffer model cached under a digest of what
it is made from (the fine-tuned network's file, or the backbone's weights and code), so a
later run loads the cached model without building the network in Keras or even importing
TensorFlow. The features match Keras' to float rounding (tests/test_runtime.py). Where
conversion fails (a layer LiteRT lacks), stage 03 says so and keeps Keras.
"""
import contextlib
import hashlib
import io
import logging
from importlib import metadata
from pathlib import Path

import numpy as np

from .fileio import atomic_path
from .quiet import native_notes_hidden
from .settings import cores

log = logging.getLogger(__name__)
FOLDER = "tflite"
# a new version of any may convert differently; TensorFlow installs under either name
CONVERTER_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert")


class LiteRTNetwork:
    """A converted (.tflite) network with Keras' `predict_on_batch` and `output_shape`, for any batch size."""

    def __init__(self, path, threads=None):
        from ai_edge_litert.interpreter import Interpreter
        with native_notes_hidden():  # the XNNPACK delegate announces itself when the tensors are first laid out
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads or cores())
            self.interpreter.allocate_tensors()
        output = self.interpreter.get_output_details()[0]
        self.output_shape = (None, *(int(side) for side in output["shape"][1:]))
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = output["index"]
        self._batch = None

    def predict_on_batch(self, images):
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self._input, images.shape)
            self.interpreter.allocate_tensors()
            self._batch = images.shape[0]
        self.interpreter.set_tensor(self._input, images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output).copy()


def for_runtime(build, runtime, cache_dir, sources, threads=None):
    """(network, runtime): `build()`'s Keras network for "keras"; for "tflite" its LiteRT version.

    `sources`: what the network is made from, as file paths (their bytes count) and strings;
    the converted model is cached under their digest and, once there, used without calling
    `build`. Where LiteRT cannot run the network, `build()`'s network and "keras".
    `threads`: how many CPU threads LiteRT may use (default: all).
    """
    if runtime == "keras":
        return build(), "keras"
    sources_ready = all(Path(part).is_file() for part in sources if isinstance(part, Path))
    network = None if sources_ready else build()  # first: a build may download a source file
    path = model_path(cache_dir, sources)
    if network is None and not path.is_file():
        network = build()
    try:
        if not path.is_file():
            convert(network, path)
        return LiteRTNetwork(path, threads), "tflite"
    except Exception as error:  # the converter and the interpreter raise many kinds; Keras still works
        log.warning("03: LiteRT cannot run this network (%s: %s); using Keras", type(error).__name__, error)
        return (build() if network is None else network), "keras"


def model_path(cache_dir, sources):
    """Where the converted network made from `sources` is cached: their digest and the converter's versions."""
    digest = hashlib.sha256()
    for part in (*_installed_versions(), *sources):
        digest.update(Path(part).read_bytes() if isinstance(part, Path) else str(part).encode())
        digest.update(b"\0")
    return Path(cache_dir) / FOLDER / f"{digest.hexdigest()[:16]}.tflite"


def _installed_versions():
    versions = []
    for package in CONVERTER_PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return versions


def convert(network, path):
    """Convert the Keras `network` to a LiteRT model at `path` (written atomically); returns `path`."""
    import tensorflow as tf  # already loaded with the network, by quiet.import_keras
    with contextlib.redirect_stdout(io.StringIO()), _quiet_logger("tensorflow"):  # the export lists every tensor
        blob = tf.lite.TFLiteConverter.from_keras_model(network).convert()
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    return path


@contextlib.contextmanager
def _quiet_logger(name):
    """Only warnings and errors from the logger `name` while inside."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
