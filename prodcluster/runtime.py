"""Stage 03's network run by LiteRT (TensorFlow Lite with the XNNPACK CPU kernels) instead of Keras.

The Keras network is converted once and the flat-buffer model cached under a digest of its
weights, so a fine-tuned network is converted again only when it changes. The features
match Keras' to float rounding (tests/test_runtime.py). Where conversion fails (a layer
LiteRT lacks), stage 03 says so and keeps Keras.
"""
import contextlib
import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np

from .fileio import atomic_path

log = logging.getLogger(__name__)
FOLDER = "tflite"


class LiteRTNetwork:
    """A converted network with Keras' `predict_on_batch` and `output_shape`, for any batch size."""

    def __init__(self, network, cache_dir, threads=None):
        from ai_edge_litert.interpreter import Interpreter
        path = converted(network, cache_dir)
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads or os.cpu_count() or 1)
        self.output_shape = network.output_shape
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
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


def for_runtime(network, runtime, cache_dir, threads=None):
    """`network` itself for "keras"; for "tflite" its LiteRT version, or `network` if it cannot be converted."""
    if runtime == "keras":
        return network, "keras"
    try:
        return LiteRTNetwork(network, cache_dir, threads), "tflite"
    except Exception as error:  # the converter raises many kinds; Keras still works
        log.warning("03: LiteRT cannot run this network (%s: %s); using Keras", type(error).__name__, error)
        return network, "keras"


def converted(network, cache_dir):
    """Path of the network's .tflite file in `cache_dir`, converted now if not cached."""
    path = Path(cache_dir) / FOLDER / f"{network.name}-{_weights_digest(network)}.tflite"
    if not path.is_file():
        import tensorflow as tf
        with contextlib.redirect_stdout(io.StringIO()):  # the export lists every tensor on stdout
            blob = tf.lite.TFLiteConverter.from_keras_model(network).convert()
        with atomic_path(path) as tmp:
            tmp.write_bytes(blob)
    return path


def _weights_digest(network):
    digest = hashlib.sha256(repr(network.input_shape).encode())
    for weights in network.get_weights():
        digest.update(np.ascontiguousarray(weights).tobytes())
    return digest.hexdigest()[:16]
