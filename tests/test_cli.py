"""The scripts' doors: help made from the settings, options where they act, fast start, one-line errors."""
import os
import subprocess
import sys

import pytest

from prodcluster import cli
from prodcluster.settings import BACKBONES, DEFAULTS, Settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ("00_make_labels_true.py", "01_img_preprocess.py", "make_training_image_folders.py",
           "02_feature_network_fine_tuning.py", "03_extract_features.py", "04_cluster_som.py", "evaluation.py",
           "visualize.py", "run_all.py", "self_train.py")
HEAVY = ("prodcluster.pipeline", "pandas", "cv2", "sklearn", "tensorflow", "matplotlib")
HELP_THEN_MODULES = """
import runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print("loaded:", sorted(name for name in {heavy} if name in sys.modules))
"""


def script_help(script):
    done = subprocess.run([sys.executable, "-c", HELP_THEN_MODULES.format(heavy=HEAVY), script], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def helps():
    return {script: script_help(script) for script in SCRIPTS}


def test_help_loads_no_heavy_library(helps):
    for script, text in helps.items():
        assert text.rstrip().endswith("loaded: []"), (script, text[-300:])


def test_help_names_each_option_default_values_and_reason_from_the_settings(helps):
    preprocess = " ".join(helps["01_img_preprocess.py"].split())
    assert "one of auto, grabcut, grabcut_cluttered, sobel_contour, none; default: auto, PREPROCESS in config.py" in preprocess
    assert Settings.__dataclass_fields__["preprocess"].metadata["why"] in preprocess
    assert "grabcut (default" not in preprocess


def test_seed_is_offered_only_where_it_shapes_the_stage(helps):
    assert "--seed" not in helps["00_make_labels_true.py"] and "--seed" not in helps["evaluation.py"]
    assert "--seed" in helps["04_cluster_som.py"] and "--seed" in helps["run_all.py"]


def test_run_all_takes_the_options_an_own_photo_run_needs(helps):
    for flag in ("--cluster-k", "--k-criterion", "--finetuned-from", "--train-fraction", "--skip-finetune",
                 "--preprocess", "--backbone", "--self-training"):
        assert flag in helps["run_all.py"], flag


def test_the_image_size_reason_gives_every_backbones_native_size():
    why = Settings.__dataclass_fields__["image_size"].metadata["why"]
    for name, backbone in BACKBONES.items():
        assert f"{backbone.native_size} for {name}" in why


def test_options_given_on_the_command_line_are_recorded():
    parser = cli.parser("doc", *cli.CLUSTERING)
    import config
    settings = cli.settings(config, parser.parse_args(["--cluster-k", "7"]))
    assert settings.cluster_k == 7 and settings.given_by("cluster_k") == "--cluster-k"
    assert settings.given_by("seed") == "the default" and DEFAULTS.command_line == ()


def test_an_unknown_data_set_is_named(tmp_path):
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(tmp_path)}
    (tmp_path / "raw_img" / "mine").mkdir(parents=True)
    done = subprocess.run([sys.executable, "04_cluster_som.py", "--dataset", "nosuch"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"error: no data set 'nosuch': {tmp_path / 'raw_img' / 'nosuch'} does not exist" in done.stderr
    assert "choose one of mine" in done.stderr and "03_extract_features.py" not in done.stderr
