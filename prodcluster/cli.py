"""Shared command-line plumbing of the numbered scripts: options, settings, logging."""
import argparse
import dataclasses
import logging
import os
import sys

from .settings import BACKBONE_SIZES, ENGINES, Settings

VERBOSE = "-v" in sys.argv or "--verbose" in sys.argv
# TensorFlow reads this when first imported (later, by a stage): its start-up notes only with -v.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if VERBOSE else "2")

# What a user can fix from the message alone: missing or stale inputs, bad settings or data.
USER_ERRORS = (FileNotFoundError, ValueError, RuntimeError)


def run(main):
    """Call a script's `main`; print a user error as one line (with -v, the traceback too)."""
    try:
        main()
    except USER_ERRORS as error:
        if VERBOSE:
            raise
        message = error.advice(by_flag=True) if hasattr(error, "advice") and _given("--backbone") else error
        sys.exit(f"error: {message}\n(rerun with -v for the traceback)")


def _given(option):
    return any(word == option or word.startswith(option + "=") for word in sys.argv[1:])


def parser(doc):
    """An argument parser with the options every script takes."""
    result = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--dataset", help="data set name (default: DATASET in config.py or $PRODCLUSTER_DATASET)")
    result.add_argument("--seed", type=int, help="random seed (default: SEED in config.py)")
    result.add_argument("--force", action="store_true",
                        help="run even if inputs and settings are unchanged since the last run")
    result.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    return result


def add_network_options(result):
    result.add_argument("--backbone", metavar="NAME",
                        help=f"backbone network: {', '.join(BACKBONE_SIZES)}, or two joined by '+' for their vectors "
                             "side by side (default: BACKBONE in config.py)")
    result.add_argument("--backbone-weights", metavar="FILE",
                        help="local file of the backbone's ImageNet weights (inception_v3, mobilenet_v2; "
                             "default: BACKBONE_WEIGHTS in config.py)")
    result.add_argument("--image-size", type=int, help="network input size in pixels (default: the backbone's)")
    result.add_argument("--batch-size", type=int, help="photos per batch (default: BATCH_SIZE in config.py)")
    return result


def add_engine_options(result):
    result.add_argument("--workers", type=int,
                        help="processes for photo work, or CPUs of a private Ray (default: WORKERS, all cores)")
    result.add_argument("--engine", choices=ENGINES,
                        help="where stages 01 and 03 run (default: ENGINE in config.py or $PRODCLUSTER_ENGINE)")
    result.add_argument("--ray-address", metavar="HOST:PORT",
                        help="Ray cluster to join with --engine ray (default: RAY_ADDRESS in config.py or "
                             "$RAY_ADDRESS; none: a private one)")
    return result


def settings(config, args):
    """Settings from config.py, overridden by the options given on the command line."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    fields = {f.name for f in dataclasses.fields(Settings)}
    options = vars(args).copy()
    weights_file = options.pop("backbone_weights", None)  # a file for the chosen backbone, not the whole dict
    settings = Settings.from_config(config, **{key: value for key, value in options.items() if key in fields})
    if weights_file:
        if len(settings.backbones) > 1:
            raise ValueError(f"--backbone-weights names one file but BACKBONE is {settings.backbone}: set "
                             "BACKBONE_WEIGHTS in config.py, one file per backbone")
        settings = settings.replace(backbone_weights={**settings.backbone_weights, settings.backbone: weights_file})
    return settings.validate()
