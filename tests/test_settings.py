"""Every setting is checked once, before any work, with a message naming it, its value and what is valid."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prodcluster.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def test_the_defaults_are_valid():
    assert Settings().validate() == Settings()


@pytest.mark.parametrize("changes, message", [
    ({"cluster_method": "kmean"}, "CLUSTER_METHOD is 'kmean': 'kmean' is not one of som, som_nodes, kmeans"),
    ({"k_criterion": "silhouette+nope"}, "K_CRITERION is 'silhouette+nope': 'nope' is not one of"),
    ({"preprocess": "grabcat"}, "PREPROCESS is 'grabcat': 'grabcat' is not one of auto, grabcut"),
    ({"backbone": "resnet"}, "BACKBONE is 'resnet'"),
    ({"feature_layer": "top"}, "FEATURE_LAYER is 'top'"),
    ({"embedding_loss": "triplet"}, "EMBEDDING_LOSS is 'triplet'"),
    ({"batch_size": 0}, "BATCH_SIZE must be a whole number of at least 1, got 0"),
    ({"cluster_k": 2.5}, "CLUSTER_K must be a whole number of at least 1 or None, got 2.5"),
    ({"epochs": True}, "EPOCHS must be a whole number"),
    ({"train_fraction": 1.5}, "TRAIN_FRACTION must be a number from 0.0 to 1.0, got 1.5"),
])
def test_a_bad_setting_is_named_with_its_value_and_the_valid_ones(changes, message):
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        Settings(**changes).validate()


def test_run_all_stops_on_a_bad_option_before_any_work(tmp_path):
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "run_all.py", "--cluster-method", "kmean"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "CLUSTER_METHOD is 'kmean'" in done.stderr and "kmeans" in done.stderr
    assert not any(tmp_path.iterdir())  # not even the demo photos were written
