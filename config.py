"""Your settings: write here only what you change; everything else keeps its default.

`python -m prodcluster.settings` lists every setting with its default, the stages it shapes
and why it is the default. Write a setting in upper case, e.g. `PREPROCESS = "none"` or
`BACKBONE = "inception_v3"`; a name no stage reads stops the scripts with a message. Any
script also takes --dataset NAME and other options (--help), which win over this file.

Switch data sets by editing DATASET, by setting PRODCLUSTER_DATASET, or with --dataset NAME.
Every folder is relative to WORK_DIR (beside this file unless PRODCLUSTER_WORK_DIR says otherwise);
PRODCLUSTER_CACHE_DIR may name one cache of converted weights for several work folders.
Stages 01 and 03 run on a Ray cluster with ENGINE = "ray" (or PRODCLUSTER_ENGINE=ray, or --engine ray);
RAY_ADDRESS names the cluster to join, none starts a private one (README: "Past one machine").
"""
import os

DATASET = os.environ.get("PRODCLUSTER_DATASET", "demo")
WORK_DIR = os.environ.get("PRODCLUSTER_WORK_DIR", ".")
CACHE_DIR = os.environ.get("PRODCLUSTER_CACHE_DIR", "cache")  # converted weights, shared by all data sets
ENGINE = os.environ.get("PRODCLUSTER_ENGINE", "local")
RAY_ADDRESS = os.environ.get("RAY_ADDRESS") or None
