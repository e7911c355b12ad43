"""Every setting is checked once, before any work, with a message naming it, its value and what is valid."""
import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import config
from prodcluster import pipeline
from prodcluster.fileio import save_image
from prodcluster.settings import CLUSTER_METHODS, DEFAULTS, K_CRITERIA, PREPROCESS_METHODS, Settings, setting

REPO = Path(__file__).resolve().parents[1]


def test_the_choices_kept_in_settings_are_the_ones_the_code_runs():
    from prodcluster import background, clustering
    assert tuple(clustering.METHODS) == CLUSTER_METHODS and tuple(clustering.CRITERIA) == K_CRITERIA
    assert tuple(background.METHODS) == PREPROCESS_METHODS


def test_every_default_is_valid_and_has_its_reason():
    Settings().validate()  # raises on the first default outside its own allowed values
    for item in dataclasses.fields(Settings):
        assert item.metadata["why"], item.name
        choices = item.metadata["choices"]
        if choices is not None and not item.metadata["joined"]:
            assert getattr(DEFAULTS, item.name) in choices, item.name


@pytest.mark.parametrize("changes, message", [
    ({"cluster_method": "kmean"}, "CLUSTER_METHOD is 'kmean': 'kmean' (did you mean 'kmeans'?) is not valid; "
                                  "it must be one of som, som_nodes, kmeans"),
    ({"k_criterion": "silhouette+nope"}, "K_CRITERION is 'silhouette+nope': 'nope' is not valid; each part must be "
                                         "one of silhouette, modularity, several joined by '+'"),
    ({"preprocess": "grabcat"}, "PREPROCESS is 'grabcat': 'grabcat' (did you mean 'grabcut'?) is not valid; "
                                "it must be one of auto, grabcut"),
    ({"backbone": "resnet"}, "BACKBONE is 'resnet'"),
    ({"backbone": "efficientnet_lite0+resnet"}, "BACKBONE is 'efficientnet_lite0+resnet': 'resnet' is not valid"),
    ({"backbone": "efficientnet_lite0+efficientnet_lite0"}, "each part may appear once"),
    ({"feature_layer": "top"}, "FEATURE_LAYER is 'top'"),
    ({"embedding_loss": "triplet"}, "EMBEDDING_LOSS is 'triplet'"),
    ({"batch_size": 0}, "BATCH_SIZE must be a whole number of at least 1, got 0"),
    ({"cluster_k": 2.5}, "CLUSTER_K must be a whole number of at least 1 or None, got 2.5"),
    ({"epochs": True}, "EPOCHS must be a whole number"),
    ({"train_fraction": 1.5}, "TRAIN_FRACTION must be a number from 0.0 to 1.0, got 1.5"),
])
def test_a_bad_setting_is_named_with_its_value_and_the_valid_ones(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings(**changes).validate()


def test_joined_backbones_each_get_their_own_network_folder_and_input_size():
    joined = Settings(backbone="efficientnet_lite0+efficientnet_lite1").validate()
    assert [(part.backbone, part.input_size, part.models.name) for part in joined.parts()] == [
        ("efficientnet_lite0", 224, "efficientnet_lite0"), ("efficientnet_lite1", 240, "efficientnet_lite1")]
    assert Settings().parts() == [Settings()]
    with pytest.raises(ValueError, match="one input size each"):
        joined.input_size


def test_one_weights_file_for_joined_backbones_is_refused(tmp_path):
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "03_extract_features.py", "--backbone",
                           "efficientnet_lite0+efficientnet_lite1", "--backbone-weights", "weights.h5"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--backbone-weights names one file" in done.stderr


def test_run_all_stops_on_a_bad_option_before_any_work(tmp_path):
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "run_all.py", "--cluster-method", "kmean"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "CLUSTER_METHOD is 'kmean'" in done.stderr and "kmeans" in done.stderr
    assert not any(tmp_path.iterdir())  # not even the demo photos were written


def test_a_new_setting_reaches_the_stamps_of_the_stages_it_names(settings):
    """One field, tagged with stage 00, makes stage 00 redo its work when changed, and no other stage."""
    extended = dataclasses.make_dataclass(
        "Extended", [("label_suffix", str, setting("", "a test field", stages=("00",)))], bases=(Settings,),
        frozen=True)
    first = extended(**{item.name: getattr(settings, item.name) for item in dataclasses.fields(Settings)})
    save_image(first.raw_img / "M1_P1_I1.jpg", np.full((16, 16, 3), 200, np.uint8))
    assert pipeline.run_stage("00", first) is not None
    assert pipeline.run_stage("00", first) is None  # unchanged: skipped
    changed = first.replace(label_suffix="x")
    assert changed.shaping("00") == {"img_ext": settings.img_ext, "label_suffix": "x"}
    assert "label_suffix" not in changed.shaping("01")
    assert pipeline.run_stage("00", changed) is not None  # the new field's change reruns the stage


def config_module(tmp_path, text):
    path = tmp_path / "config.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("user_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("text, message", [
    ("PREPROCES = 'none'\n", "sets 'PREPROCES' (did you mean 'PREPROCESS'?), which no stage reads"),
    ("import os\npreprocess = 'grabcut'\n", "sets preprocess in lower case, which no stage reads: write PREPROCESS"),
    ("ROOT = '/elsewhere'\n", "sets 'ROOT' (did you mean 'WORK_DIR'?)"),
])
def test_config_names_no_stage_reads_are_refused_with_the_closest_spelling(tmp_path, text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.from_config(config_module(tmp_path, text))


def test_the_shipped_config_changes_nothing_but_the_data_set_and_folder():
    shipped = Settings.from_config(config)
    assert shipped.dataset == os.environ.get("PRODCLUSTER_DATASET", "demo")
    assert shipped.replace(root=DEFAULTS.root, dataset=DEFAULTS.dataset) == DEFAULTS


def test_every_setting_is_listed_with_its_reason():
    listed = subprocess.run([sys.executable, "-m", "prodcluster.settings"], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout
    for item in dataclasses.fields(Settings):
        assert item.name in ("root", "command_line") or f"\n{item.name.upper()} = " in "\n" + listed
    assert "PREPROCESS = 'auto'  # " in listed and "[stages 01]" in listed
