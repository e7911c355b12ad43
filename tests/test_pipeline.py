"""Stages handing off through files: fine-tune and extract round trip, and run_all.py end to end."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from prodcluster import features, handoff, stages
from prodcluster.batches import load_for_network
from prodcluster.demo import make_demo
from prodcluster.fileio import load_npy, read_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def made_tiny_demo(settings):
    make_demo(settings.raw_img, n_models=4, photos_per_model=4, seed=3)
    stages.make_labels(settings)
    stages.preprocess(settings)
    stages.make_training_folders(settings)
    return settings


@pytest.fixture
def tiny_demo(settings):
    return made_tiny_demo(settings)


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory, settings_at):
    """A tiny demo with its network fine-tuned once for the tests that read it (each runs stage 03 again)."""
    settings = made_tiny_demo(settings_at(tmp_path_factory.mktemp("fine_tuned")))
    return settings, stages.fine_tune(settings)


def test_fine_tune_then_extract_keeps_list_order(fine_tuned):
    settings, history = fine_tuned
    assert len(history) >= 1 and settings.finetuned_model.is_file()
    info = stages.extract_features(settings)
    assert info["source"] == "finetuned" and info["n_images"] == 16
    vectors, files = handoff.load_features(settings)
    assert files == handoff.load_image_list(settings)
    extractor = features.load_feature_extractor(settings.finetuned_model, settings.feature_layer)
    for row in (0, 9):
        image = load_for_network(settings.img / files[row], settings.input_size, settings.max_image_pixels)
        alone = np.asarray(extractor.predict_on_batch(image[None].astype(np.float32)))[0]
        np.testing.assert_allclose(vectors[row], alone / np.linalg.norm(alone), atol=1e-4)


def test_plain_backbone_used_when_fine_tuning_is_skipped(tiny_demo, caplog):
    caplog.set_level("INFO")
    info = stages.extract_features(tiny_demo.replace(use_finetuned=False))
    assert "03: USE_FINETUNED is off (--skip-finetune): using the plain pretrained efficientnet_lite0" in caplog.messages
    assert info["source"] == "pretrained" and info["dim"] == 1280
    assert load_npy(tiny_demo.path("features")).shape == (16, 1280)


def test_stage_04_trains_one_map_on_plain_features_unless_som_maps_is_set(settings):
    assert "maps" not in stages.cluster_options(settings)  # fine-tuned: the clustering's agreed maps
    assert stages.cluster_options(settings, plain_features=True)["maps"] == 1
    assert stages.cluster_options(settings.replace(som_maps=3), plain_features=True)["maps"] == 3
    assert "maps" not in stages.cluster_options(settings.replace(cluster_method="kmeans"), plain_features=True)


@pytest.mark.slow
def test_joined_backbones_fine_tune_apart_and_put_their_vectors_side_by_side(tiny_demo):
    settings = tiny_demo.replace(backbone="efficientnet_lite0+efficientnet_lite1", runtime="keras", epochs=1,
                                 head_epochs=2)
    history = stages.fine_tune(settings)
    assert set(history["backbone"]) == {"efficientnet_lite0", "efficientnet_lite1"}
    lite0, lite1 = settings.parts()
    assert lite0.finetuned_model.is_file() and lite1.finetuned_model.is_file()
    files = handoff.load_image_list(settings)
    (settings.img / files[5]).write_bytes(b"not a photo")
    info = stages.extract_features(settings)
    assert info["source"] == "finetuned" and [part["backbone"] for part in info["parts"]] == list(settings.backbones)
    vectors, kept = handoff.load_features(settings)
    assert kept == files[:5] + files[6:] and info["rejected"] == 1
    images = np.stack([load_for_network(settings.img / name, 64, settings.max_image_pixels)
                       for name in kept[:3]]).astype(np.float32)
    column = 0
    for part in settings.parts():
        alone = features.load_feature_extractor(part.finetuned_model, part.feature_layer).predict_on_batch(images)
        alone = alone / np.linalg.norm(alone, axis=1, keepdims=True) / np.sqrt(2)
        np.testing.assert_allclose(vectors[:3, column:column + alone.shape[1]], alone, atol=1e-5)
        column += alone.shape[1]
    assert column == vectors.shape[1]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, rtol=1e-5)


def test_stage_out_of_order_names_the_missing_stage(settings):
    with pytest.raises(FileNotFoundError, match="00_make_labels_true.py"):
        stages.extract_features(settings)


def test_run_all_end_to_end(tmp_path):
    make_demo(tmp_path / "raw_img" / "demo", n_models=5, photos_per_model=4, seed=1)
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "run_all.py", "--image-size", "64", "--epochs", "2"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ari" in done.stdout and "wall time per stage" in done.stdout
    assert "00: 20 photos; 20 named with their model (5 models)" in done.stdout  # each stage's summary
    assert_only_our_messages(done.stderr)
    assert "\r" not in done.stdout + done.stderr  # no progress bars when the output is not a terminal
    assert "only 8 photos of 2 known models" in done.stderr  # too few to fine-tune on: plain features
    assert "one map: plain features" in done.stdout
    data = tmp_path / "data" / "demo"
    for name in ("images.txt", "labels.csv", "labels_true.txt", "split.csv", "features.npy", "predictions.csv",
                 "labels_pred.txt", "clustering.json", "metrics.json"):
        assert (data / name).is_file(), name
    assert len((data / "labels_pred.txt").read_text().splitlines()) == 20
    metrics = read_json(data / "metrics.json")
    assert metrics["features"]["backbone"] == "efficientnet_lite0"
    assert metrics["n_clustered"] + metrics["n_rejected"] == 20
    for picture in ("tsne.png", "umatrix.png", "clusters.png"):
        assert (tmp_path / "result" / "demo" / picture).stat().st_size > 1000
    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    undocumented = [path.name for path in (tmp_path / "result" / "demo").iterdir()
                    if path.name not in readme and path.name != "report_files"]  # the page's own thumbnails
    assert not undocumented, f"README does not say what these outputs are: {undocumented}"
    up_to_date = subprocess.run([sys.executable, "run_all.py", "--image-size", "64", "--epochs", "2"], cwd=REPO,
                                env=env, capture_output=True, text=True, timeout=600)
    assert up_to_date.returncode == 0, up_to_date.stderr[-3000:]
    assert "evaluation: inputs and settings unchanged" in up_to_date.stdout
    assert "homogeneity" in up_to_date.stdout and "recall@1 on unseen models" in up_to_date.stdout
    rerun = subprocess.run([sys.executable, "04_cluster_som.py"], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    stage_04 = [sys.executable, "04_cluster_som.py", "--k-criterion"]
    silhouette = subprocess.run([*stage_04, "silhouette"], cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=300)
    assert silhouette.returncode == 0, silhouette.stderr[-3000:]
    assert read_json(data / "clustering.json")["settings"]["criterion"] == "silhouette"
    assert read_json(data / "clustering.json")["settings"]["maps"] == 1
    unknown = subprocess.run([*stage_04, "silhouette+nope"], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=300)
    assert unknown.returncode != 0 and "K_CRITERION is 'silhouette+nope'" in unknown.stderr


def assert_only_our_messages(stderr):
    """No start-up note of TensorFlow or LiteRT, whatever the processor: each line is a stage's own."""
    for line in stderr.splitlines():
        assert line.startswith(("02", "03", "04", "demo:")), line


def run(script, *args, root, timeout=600):
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(root)}
    done = subprocess.run([sys.executable, script, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_folder_of_unlabelled_photos_runs_end_to_end_and_reports_without_scores(tmp_path):
    folder = tmp_path / "raw_img" / "mine"
    photos = make_demo(tmp_path / "made", n_models=4, photos_per_model=5, seed=2)
    folder.mkdir(parents=True)
    for number, photo in enumerate(photos):
        photo.rename(folder / (f"IMG_{number:04d}.JPG" if number % 2 else f"photo ({number}).jpeg"))
    (folder / "broken.jpg").write_bytes(b"not a photo")
    done = run("run_all.py", "--dataset", "mine", "--image-size", "64", root=tmp_path)
    assert "00: 21 photos; 0 named with their model (0 models), 21 without" in done.stdout
    assert "1 rejected:\n  broken.jpg: not a decodable image" in done.stdout
    assert f"all listed in {tmp_path / 'data' / 'mine' / 'rejected.csv'}" in done.stdout
    assert "evaluation: nothing to score: no clustered photo" in done.stdout
    assert "02: no known model to learn from" in done.stderr
    assert_only_our_messages(done.stderr)
    result = tmp_path / "result" / "mine"
    assert "No scores: no photo is named MODELID_PRODUCTID_IMAGEID" in (result / "report.html").read_text()
    assert (result / "k_criterion.png").is_file()
    run("04_cluster_som.py", "--dataset", "mine", "--cluster-k", "3", root=tmp_path)
    assert not (result / "k_criterion.png").exists()  # no criterion chose k: no picture of an earlier choice
    assert "nothing to score" in run("evaluation.py", "--dataset", "mine", root=tmp_path).stdout
    run("visualize.py", "--dataset", "mine", root=tmp_path)
    assert "k = 3 clusters, given by --cluster-k" in (result / "report.html").read_text()
    again = run("evaluation.py", "--dataset", "mine", root=tmp_path).stdout
    assert "skipped" in again and "nothing to score" in again


@pytest.mark.slow
def test_a_folder_of_arbitrary_names_and_sub_folders_runs_and_scores_the_named_photos(tmp_path):
    folder = tmp_path / "raw_img" / "mine"
    photos = make_demo(tmp_path / "made", n_models=4, photos_per_model=6, seed=2)
    for number, photo in enumerate(photos):
        # half keep their MODELID_PRODUCTID_IMAGEID name, half become a seller's own names in sub-folders
        target = folder / photo.name if number % 2 else folder / f"seller {number % 3}" / f"IMG {number:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        photo.rename(target)
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "run_all.py", "--dataset", "mine", "--image-size", "64"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "12 clustered photos have no model id in their name and are not scored" in done.stdout
    metrics = read_json(tmp_path / "data" / "mine" / "metrics.json")
    assert metrics["n_clustered"] == 24 and metrics["n_scored"] == 12
    assert (tmp_path / "img" / "mine" / "seller 0" / "IMG 0000.jpg").is_file()
    assert (tmp_path / "result" / "mine" / "report.html").is_file()


def test_litert_runs_a_fine_tuned_network_with_keras_features_then_without_tensorflow(fine_tuned):
    settings, _ = fine_tuned
    assert stages.extract_features(settings)["runtime"] == "tflite"
    extractor = features.load_feature_extractor(settings.finetuned_model, settings.feature_layer)
    files = handoff.load_image_list(settings)
    images = np.stack([load_for_network(settings.img / name, settings.input_size, settings.max_image_pixels)
                       for name in files[:6]]).astype(np.float32)
    keras_vectors = np.asarray(extractor.predict_on_batch(images))
    lite_vectors = load_npy(settings.path("features"))
    cosine = (keras_vectors * lite_vectors[:6]).sum(1) / np.linalg.norm(keras_vectors, axis=1)
    assert (1 - cosine).max() < 1e-4
    again = subprocess.run([sys.executable, "-c", RERUN_STAGE_03], input=pickle.dumps(settings), cwd=REPO,
                           capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr.decode()[-3000:]
    assert again.stdout.decode().split()[-1] == "False"  # the cached conversion ran without TensorFlow
    np.testing.assert_array_equal(load_npy(settings.path("features")), lite_vectors)


RERUN_STAGE_03 = """
import pickle, sys
from prodcluster import stages
stages.extract_features(pickle.loads(sys.stdin.buffer.read()))
print("tensorflow" in sys.modules)
"""
