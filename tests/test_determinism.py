"""Two full runs with the same seed give the same network, features and clusters, in two data-set folders
and whatever the number of worker processes."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from prodcluster.demo import make_demo
from prodcluster.fileio import load_npy, read_json
from prodcluster.settings import Settings
from tests.test_pipeline import assert_only_our_messages

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def full_run(root, dataset, workers):
    """run_all.py in its own process, as a user runs it; returns the data set's settings."""
    settings = Settings(dataset=dataset, root=root)
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(root)}
    done = subprocess.run([sys.executable, "run_all.py", "--dataset", dataset, "--image-size", "64", "--epochs", "1",
                           "--batch-size", "8", "--workers", str(workers)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_only_our_messages(done.stderr)  # fine-tuning too runs without TensorFlow's notes
    return settings


@pytest.mark.slow
def test_two_full_runs_give_identical_networks_features_and_clusters(tmp_path):
    photos = make_demo(tmp_path / "raw_img" / "first", n_models=4, photos_per_model=10, seed=2)
    shutil.copytree(photos[0].parent, tmp_path / "raw_img" / "second")
    first, second = full_run(tmp_path, "first", workers=2), full_run(tmp_path, "second", workers=1)
    assert read_json(first.path("features_info"))["source"] == "finetuned"  # fine-tuning ran
    losses = [pd.read_csv(run.models / "history.csv").drop(columns="seconds") for run in (first, second)]
    pd.testing.assert_frame_equal(*losses)
    np.testing.assert_array_equal(load_npy(first.path("features")), load_npy(second.path("features")))
    for name in ("labels_pred", "predictions", "feature_files"):
        assert first.path(name).read_text() == second.path(name).read_text(), name
    for photo in sorted(first.img.glob("*.jpg")):
        assert photo.read_bytes() == (second.img / photo.name).read_bytes(), photo.name
    assert len(set(first.path("labels_pred").read_text().split())) > 1
