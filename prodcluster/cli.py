"""Shared command-line plumbing of the numbered scripts: options made from the settings, errors, Ctrl-C.

An option's help is built from its setting's own record in settings.py (default, valid
values, reason), so `--help` and `python -m prodcluster.settings` say the same. This module
imports no heavy library, so `--help` answers at once; the scripts import the stages after
parsing their options.
"""
import argparse
import dataclasses
import logging
import sys
import types
import typing

from .settings import DEFAULTS, Settings

VERBOSE = "-v" in sys.argv or "--verbose" in sys.argv

# What a user can fix from the message alone: missing or stale inputs, bad settings or data.
USER_ERRORS = (FileNotFoundError, ValueError, RuntimeError)
INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C

# What each option sets, in a few words; its default, valid values and reason come from settings.py.
WHAT = {
    "seed": "random seed",
    "workers": "processes for photo work, or CPUs of a private Ray",
    "engine": "where stages 01 and 03 run",
    "ray_address": "Ray cluster to join with --engine ray",
    "preprocess": "background removal",
    "save_masks": "also save the foreground masks",
    "train_fraction": "share of the model ids used for fine-tuning",
    "calibration_share": "share of those held out of fine-tuning to calibrate stage 04's k",
    "backbone": "backbone network, or two joined by '+' for their vectors side by side",
    "image_size": "network input size in pixels",
    "batch_size": "photos per batch",
    "epochs": "fine-tuning epochs of the top blocks",
    "self_training": "fine-tune again on the clearest clusters of the run, then features and clusters again",
    "use_finetuned": "use the plain pretrained backbone, without fine-tuning",
    "finetuned_from": "use the network fine-tuned on this other data set",
    "feature_layer": "layer of the fine-tuned network to read",
    "runtime": "what runs the network",
    "test_time_flip": "average each photo's vector with its mirror image's",
    "cluster_method": "clustering method",
    "cluster_k": "number of clusters, for the methods that take one",
    "k_criterion": "how som and agglomerative choose k",
    "neighbour_expansion": "add each vector's K nearest neighbours to it first",
    "whiten_components": "shrunk whitening to D components first",
}
FLAGS = {"use_finetuned": "--skip-finetune"}  # where the flag is not the setting's name
METAVARS = {"ray_address": "HOST:PORT", "neighbour_expansion": "K", "whiten_components": "D", "backbone": "NAME",
            "k_criterion": "NAME[+NAME]", "finetuned_from": "DATASET"}
NETWORK = ("backbone", "image_size", "batch_size")
ENGINE = ("workers", "engine", "ray_address")
CLUSTERING = ("cluster_method", "cluster_k", "k_criterion")


def run(main):
    """Call a script's `main`; print a user error as one line (with -v, the traceback too), Ctrl-C as one line."""
    try:
        main()
    except USER_ERRORS as error:
        if VERBOSE:
            raise
        message = error.advice(by_flag=True) if hasattr(error, "advice") and _given("--backbone") else error
        sys.exit(f"error: {message}\n(rerun with -v for the traceback)")
    except KeyboardInterrupt:
        if VERBOSE:
            raise
        freshness = sys.modules.get("prodcluster.freshness")  # imported once a stage has started
        stage = getattr(freshness, "running", None)
        where = f" during stage {stage}" if stage else ""
        print(f"\ninterrupted{where}; finished stages are kept: rerun to go on", file=sys.stderr)
        sys.exit(INTERRUPTED)


def _given(option):
    return any(word == option or word.startswith(option + "=") for word in sys.argv[1:])


def parser(doc, *settings, stages=(), skips=True):
    """An argument parser with the options every script takes, one per named setting, --seed where the
    seed shapes one of `stages` (empty: every stage) and --force where a stage `skips` when up to date."""
    result = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--dataset", help="data set name (default: DATASET in config.py or $PRODCLUSTER_DATASET)")
    if skips:
        result.add_argument("--force", action="store_true",
                            help="run even if inputs and settings are unchanged since the last run")
    result.add_argument("-v", "--verbose", action="store_true", help="show debug messages and library notes")
    seeded = not stages or set(stages) & set(_FIELDS["seed"].metadata["stages"])
    for name in (("seed",) if seeded else ()) + settings:
        add_setting(result, name)
    return result


def add_setting(result, name):
    """--NAME (or its FLAGS entry) for the setting `name`, its help made from the setting's record."""
    item = _FIELDS[name]
    metadata, default = item.metadata, getattr(DEFAULTS, name)
    flag = FLAGS.get(name, "--" + name.replace("_", "-"))
    config_name = f"{name.upper()} in config.py"
    if isinstance(default, bool):
        shown = f"sets {name.upper()} = {not default}; default: {default}, {config_name}: {metadata['why']}"
        result.add_argument(flag, dest=name, action="store_false" if default else "store_true", default=None,
                            help=f"{WHAT[name]} ({shown})".replace("%", "%%"))
        return
    choices = metadata["choices"]
    valid = ""
    if choices is not None:
        valid = f"one of {', '.join(choices)}{', several joined by +' if metadata['joined'] else ''}; "
    shown = f"{valid}default: {default}, {config_name}: {metadata['why']}"
    # no argparse choices: the settings' check names the valid values and the closest to a misspelt one
    result.add_argument(flag, dest=name, type=_value_type(item), metavar=METAVARS.get(name),
                        help=f"{WHAT[name]} ({shown})".replace("%", "%%"))


def _value_type(item):
    """int, float or str: the type of the setting's values (None aside)."""
    annotation = item.type
    if isinstance(annotation, types.UnionType):
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation if annotation in (int, float) else str


_FIELDS = {item.name: item for item in dataclasses.fields(Settings)}


def settings(config, args):
    """Settings from config.py, overridden by the options given on the command line."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    options = vars(args).copy()
    weights_file = options.pop("backbone_weights", None)  # a file for the chosen backbone, not the whole dict
    given = {key: value for key, value in options.items() if key in _FIELDS and value is not None}
    settings = Settings.from_config(config, **given, command_line=tuple(sorted(given)))
    if weights_file:
        if len(settings.backbones) > 1:
            raise ValueError(f"--backbone-weights names one file but BACKBONE is {settings.backbone}: set "
                             "BACKBONE_WEIGHTS in config.py, one file per backbone")
        settings = settings.replace(backbone_weights={**settings.backbone_weights, settings.backbone: weights_file})
    return settings.validate()


def add_weights_option(result):
    result.add_argument("--backbone-weights", metavar="FILE",
                        help="local file of the backbone's ImageNet weights (inception_v3, mobilenet_v2; "
                             "default: BACKBONE_WEIGHTS in config.py)")
    return result
