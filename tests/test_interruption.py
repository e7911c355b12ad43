"""Interrupted and repeated runs: a stage killed mid-way finishes on rerun as if never stopped;
an unchanged stage is skipped, a changed one redone, and stale inputs are refused."""
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import config
from prodcluster import clustering, pipeline, stages
from prodcluster.demo import make_demo
from prodcluster.fileio import load_npy, read_json
from prodcluster.freshness import StaleInputs
from prodcluster.settings import Settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASET = "killed"


def script_settings(root, **changes):
    """The settings a numbered script builds for `root`, as the subprocesses below see them."""
    return Settings.from_config(config, dataset=DATASET, workers=1, **changes).replace(root=root)


def start_script(root, *args, new_session=False):
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(root)}
    return subprocess.Popen([sys.executable, *args, "--dataset", DATASET], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=new_session,
                            preexec_fn=_ctrl_c_as_in_a_terminal)


def _ctrl_c_as_in_a_terminal():
    """Pytest started as a shell's background job ignores Ctrl-C, and so would the script: a terminal's does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out


def wait_until(process, ready, timeout=240):
    """Return once `ready()` holds while `process` still runs; fail if it ended before that."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the stage ended before it could be interrupted: " + process.stderr.read()
        assert time.monotonic() < deadline, "the stage never got under way"
        time.sleep(0.05)
    assert process.poll() is None, "the stage ended before it could be interrupted"


def kill_when(process, ready, timeout=240):
    """SIGKILL `process` once `ready()` holds; fail if it ended before that."""
    wait_until(process, ready, timeout)
    process.send_signal(signal.SIGKILL)
    process.wait()


def leftovers(folder):
    return sorted(path.name for path in folder.rglob(".*.tmp*"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A data set listed by stage 00, big enough that stages take seconds."""
    root = tmp_path_factory.mktemp("photos")
    make_demo(root / "raw_img" / DATASET, n_models=12, photos_per_model=10, seed=5)
    pipeline.run_stage("00", script_settings(root))
    return root


def copy_root(source, target):
    shutil.copytree(source, target, symlinks=True)
    return target


def test_killed_background_removal_resumes_to_identical_photos(photos, tmp_path):
    reference = script_settings(copy_root(photos, tmp_path / "reference"))
    stages.preprocess(reference)
    killed = script_settings(copy_root(photos, tmp_path / "killed"))
    process = start_script(killed.root, "01_img_preprocess.py", "--workers", "1")
    kill_when(process, lambda: killed.img.is_dir() and len(list(killed.img.glob("*.jpg"))) >= 10)
    done_before = len(list(killed.img.glob("*.jpg")))
    assert done_before < 120
    finish(start_script(killed.root, "01_img_preprocess.py", "--workers", "1"))
    names = sorted(path.name for path in reference.img.glob("*.jpg"))
    assert sorted(path.name for path in killed.img.glob("*.jpg")) == names and len(names) == 120
    for name in names:
        assert (killed.img / name).read_bytes() == (reference.img / name).read_bytes(), name
    assert leftovers(killed.img) == []


def test_ctrl_c_says_which_stage_stopped_in_one_line(photos, tmp_path):
    killed = script_settings(copy_root(photos, tmp_path / "ctrl_c"))
    process = start_script(killed.root, "01_img_preprocess.py", "--workers", "2", "--preprocess", "grabcut",
                           new_session=True)
    wait_until(process, lambda: killed.img.is_dir() and len(list(killed.img.glob("*.jpg"))) >= 4)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal does: to the script and its worker processes
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert err.strip() == "interrupted during stage 01; finished stages are kept: rerun to go on"


@pytest.mark.slow
def test_killed_feature_extraction_reruns_to_identical_features(photos, tmp_path):
    reference = script_settings(copy_root(photos, tmp_path / "reference"), batch_size=4)
    stages.preprocess(reference)
    killed = script_settings(copy_root(reference.root, tmp_path / "killed"), batch_size=4)
    stages.extract_features(reference)
    process = start_script(killed.root, "03_extract_features.py", "--batch-size", "4")
    kill_when(process, lambda: any(path.stat().st_size > 0 for path in killed.data.glob(".features.npy.*")))
    assert not killed.path("features").exists() and leftovers(killed.data)
    out = finish(start_script(killed.root, "03_extract_features.py", "--batch-size", "4"))
    assert "120 x 1280 features" in out
    np.testing.assert_array_equal(load_npy(killed.path("features")), load_npy(reference.path("features")))
    assert killed.path("feature_files").read_text() == reference.path("feature_files").read_text()
    assert leftovers(killed.data) == []


SMALL = {"image_size": 64, "use_finetuned": False}


@pytest.fixture(scope="module")
def clustered_root(photos, tmp_path_factory):
    """Stages 00 to 04 run once through the freshness check (plain backbone, small photos)."""
    settings = script_settings(copy_root(photos, tmp_path_factory.mktemp("clustered") / "run"), **SMALL)
    assert pipeline.run_stage("00", settings) is None  # listed by the `photos` fixture, copied with its stamp
    for name in ("01", "03", "04"):
        assert pipeline.run_stage(name, settings) is not None, name
    return settings.root


@pytest.fixture
def clustered(clustered_root, tmp_path):
    """A copy of the clustered run (times kept, so its stamps still hold)."""
    return script_settings(copy_root(clustered_root, tmp_path / "run"), **SMALL)


def test_unchanged_stage_is_skipped_and_force_reruns_it(clustered, capsys):
    predictions = clustered.path("predictions")
    written = predictions.stat().st_mtime_ns
    assert pipeline.run_stage("04", clustered) is None
    assert "skipped" in capsys.readouterr().out
    assert predictions.stat().st_mtime_ns == written
    assert pipeline.run_stage("04", clustered, force=True) is not None
    assert predictions.stat().st_mtime_ns > written


def test_changed_setting_redoes_the_stage(clustered, capsys):
    result = pipeline.run_stage("04", clustered.replace(cluster_method="kmeans", cluster_k=3))
    assert result is not None and result.k == 3
    assert "settings" in capsys.readouterr().out
    assert read_json(clustered.path("clustering"))["method"] == "kmeans"


def test_a_changed_default_in_the_code_redoes_the_stage(clustered, capsys, monkeypatch):
    monkeypatch.setitem(clustering.SOM_DEFAULTS, "linkage", "ward")  # as a new version of clustering.py would
    assert pipeline.run_stage("04", clustered) is not None
    assert "settings" in capsys.readouterr().out
    assert read_json(clustered.path("clustering"))["settings"]["linkage"] == "ward"
    assert pipeline.run_stage("04", clustered) is None


def test_a_redone_stage_names_only_the_inputs_that_changed(clustered, capsys):
    assert pipeline.run_stage("03", clustered.replace(use_finetuned=True)) is not None  # no network to read yet
    assert "03: inputs (settings) changed since its last run; redoing it" in capsys.readouterr().out


def test_deleted_output_redoes_the_stage(clustered):
    clustered.path("labels_pred").unlink()
    assert pipeline.run_stage("04", clustered) is not None
    assert clustered.path("labels_pred").is_file()


def test_changed_photo_makes_later_stages_stale_until_rerun(clustered):
    photo = sorted(clustered.raw_img.glob("*.jpg"))[0]
    cv2.imwrite(str(photo), cv2.flip(cv2.imread(str(photo)), 1))
    with pytest.raises(StaleInputs, match="00_make_labels_true.py"):
        pipeline.run_stage("04", clustered)
    assert pipeline.run_stage("00", clustered) is not None
    with pytest.raises(StaleInputs, match="01_img_preprocess.py"):
        pipeline.run_stage("03", clustered)
    for name in ("01", "03"):
        assert pipeline.run_stage(name, clustered) is not None, name
    assert pipeline.run_stage("04", clustered) is not None


def test_temporary_files_of_a_killed_run_are_removed(clustered):
    leftover = clustered.data / ".predictions.csv.abc123.tmp.csv"
    leftover.write_text("half a file")
    assert pipeline.run_stage("04", clustered, force=True) is not None
    assert not leftover.exists()


def test_later_stages_trust_what_earlier_ones_ran_with(clustered):
    # stage 03 ran on the plain backbone (as run_all.py --skip-finetune); today's settings ask for fine-tuned features
    today = clustered.replace(use_finetuned=True, cluster_method="kmeans", cluster_k=3)
    assert pipeline.run_stage("04", today) is not None
    assert pipeline.run_stage("evaluation", today) is not None


def test_a_failed_run_keeps_the_last_good_stamp(clustered):
    with pytest.raises(ValueError):
        pipeline.run_stage("04", clustered.replace(cluster_method="kmeans", cluster_k=10_000))
    assert pipeline.run_stage("03", clustered) is None  # nothing it depends on changed: still skipped
    assert pipeline.run_stage("04", clustered) is None  # its outputs and stamp are those of its last good run


def test_outputs_changed_after_a_stage_finished_are_refused(clustered):
    clustered.path("features").write_bytes(clustered.path("features").read_bytes() + b"\0")
    with pytest.raises(StaleInputs, match="outputs changed after it finished.*03_extract_features.py"):
        pipeline.run_stage("04", clustered, force=True)
