"""One object holding a run's settings and every file path the stages hand to each other.

The numbered scripts build it from `config.py`; benchmarks and tests build it directly and
override any field, so all callers go through the same stage code.
"""
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

# Allowed values kept here, beside the fields, so checking them loads no network library.
BACKBONE_SIZES = {"inception_v3": 299, "mobilenet_v2": 224, "efficientnet_lite0": 224}  # native input sizes
EMBEDDING_LOSSES = ("supcon", "cosface")
FEATURE_LAYERS = ("combined", "embedding", "backbone_features")


@dataclass(frozen=True)
class Settings:
    dataset: str = "demo"
    root: Path = Path(".")
    img_ext: tuple = (".jpg", ".jpeg", ".png")
    max_image_pixels: int = 50_000_000
    raw_img_dir: str = "raw_img/{dataset}"
    img_dir: str = "img/{dataset}"
    data_dir: str = "data/{dataset}"
    train_img_dir: str = "training_img/{dataset}"
    model_dir: str = "models/{dataset}"
    result_dir: str = "result/{dataset}"
    cache_dir: str = "cache"
    seed: int = 42
    preprocess: str = "auto"
    save_masks: bool = False
    train_fraction: float = 0.5
    backbone: str = "efficientnet_lite0"
    image_size: int | None = None
    backbone_weights: dict = field(default_factory=dict)
    batch_size: int = 32
    epochs: int = 3
    learning_rate: float = 1e-3
    validation_fraction: float = 0.2
    head_epochs: int = 40
    augmented_views: int = 4
    embedding_loss: str = "supcon"
    embedding_dim: int = 256
    finetune_blocks: int = 2
    finetune_learning_rate: float = 1e-4
    early_stopping_patience: int = 5
    min_finetune_photos: int = 20
    use_finetuned: bool = True
    finetuned_from: str | None = None
    feature_layer: str = "combined"
    cluster_method: str = "som"
    cluster_k: int | None = None
    k_criterion: str = "silhouette+modularity"
    som_sigma: float = 1.0
    som_learning_rate: float = 0.5
    som_iterations_per_image: int = 10
    tsne_perplexity: float = 30
    workers: int | None = None

    @classmethod
    def from_config(cls, module, **overrides):
        """Read the upper-case names of `config.py` whose lower-case form is a field."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {key.lower(): value for key, value in vars(module).items()
                  if key.isupper() and key.lower() in names}
        values["root"] = (Path(module.__file__).resolve().parent / getattr(module, "WORK_DIR", ".")).resolve()
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def validate(self):
        """Check every setting, before any work; a ValueError names the setting, its value and what is valid."""
        from . import background, clustering
        _choice("PREPROCESS", self.preprocess, background.METHODS)
        _choice("BACKBONE", self.backbone, BACKBONE_SIZES)
        _choice("EMBEDDING_LOSS", self.embedding_loss, EMBEDDING_LOSSES)
        _choice("FEATURE_LAYER", self.feature_layer, FEATURE_LAYERS)
        _choice("CLUSTER_METHOD", self.cluster_method, clustering.METHODS)
        for criterion in self.k_criterion.split("+"):
            _choice("K_CRITERION", criterion, clustering.CRITERIA, shown=self.k_criterion)
        for name, least in _WHOLE_NUMBERS.items():
            value = getattr(self, name)
            if not (value is None and name in _OPTIONAL) and not (_is_int(value) and value >= least):
                raise ValueError(f"{name.upper()} must be a whole number of at least {least}"
                                 f"{' or None' if name in _OPTIONAL else ''}, got {value!r}")
        for name, (low, high) in _SHARES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(f"{name.upper()} must be a number from {low} to {high}, got {value!r}")
        return self

    def folder(self, template, dataset=None):
        return Path(self.root) / template.format(dataset=dataset or self.dataset)

    @property
    def raw_img(self):
        return self.folder(self.raw_img_dir)

    @property
    def img(self):
        return self.folder(self.img_dir)

    @property
    def data(self):
        return self.folder(self.data_dir)

    @property
    def masks(self):
        """Where stage 01 saves the foreground masks when asked to."""
        return self.data / "masks"

    @property
    def train_img(self):
        return self.folder(self.train_img_dir)

    @property
    def models(self):
        return self.folder(self.model_dir)

    @property
    def result(self):
        return self.folder(self.result_dir)

    @property
    def cache(self):
        return Path(self.root) / self.cache_dir

    @property
    def finetuned_model(self):
        """The fine-tuned network that stage 03 uses (another data set's when `finetuned_from` is set)."""
        return self.folder(self.model_dir, self.finetuned_from) / "finetuned.keras"

    @property
    def input_size(self):
        return self.image_size or BACKBONE_SIZES[self.backbone]

    def data_file(self, name):
        return self.data / FILES[name]


_WHOLE_NUMBERS = {"max_image_pixels": 1, "seed": 0, "image_size": 32, "batch_size": 1, "epochs": 0,
                  "head_epochs": 0, "augmented_views": 1, "embedding_dim": 2, "finetune_blocks": 0,
                  "early_stopping_patience": 0, "min_finetune_photos": 1, "cluster_k": 1,
                  "som_iterations_per_image": 1, "workers": 1}
_OPTIONAL = {"image_size", "cluster_k", "workers"}
_SHARES = {"train_fraction": (0.0, 1.0), "validation_fraction": (0.0, 0.9), "learning_rate": (1e-9, 10.0),
           "finetune_learning_rate": (1e-9, 10.0), "som_sigma": (1e-6, 1e3), "som_learning_rate": (1e-9, 10.0),
           "tsne_perplexity": (1.0, 1e4)}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(name, value, valid, shown=None):
    if value not in valid:
        raise ValueError(f"{name} is {shown or value!r}: {value!r} is not one of {', '.join(map(str, valid))} "
                         "(set it in config.py, the environment or the command line)")


MODEL_FILES = ("finetuned.keras", "classes.json", "history.csv", "learning_curve.png")  # stage 02 writes these
FILES = {
    "image_list": "images.txt",
    "labels": "labels.csv",
    "labels_true": "labels_true.txt",
    "rejected": "rejected.csv",
    "split": "split.csv",
    "features": "features.npy",
    "feature_files": "feature_files.txt",
    "features_info": "features.json",
    "predictions": "predictions.csv",
    "labels_pred": "labels_pred.txt",
    "clustering": "clustering.json",
    "som_weights": "som_weights.npy",
    "som_node_labels": "som_node_labels.npy",
    "metrics": "metrics.json",
}
