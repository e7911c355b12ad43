"""Reviewing clusters: the decisions replayed on hand-made clusters, and the whole loop in a real browser.

The browser tests drive review.html in headless Chromium through Selenium and Debian's
chromedriver (`apt-get install chromium chromium-driver`); they are skipped where those are absent.
"""
import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score

from prodcluster import corrections, handoff, pipeline
from prodcluster.demo import make_demo
from prodcluster.fileio import read_csv
from prodcluster.freshness import StaleInputs, check_up_to_date

REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
needs_browser = pytest.mark.skipif(not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
                                   reason="needs Debian's chromium and chromium-driver")


def review_of(decisions, run="run-1", dataset="tiny"):
    return {"format": corrections.FORMAT, "dataset": dataset, "run": run, "decisions": decisions}


CLUSTERS = {"a1": 0, "a2": 0, "a3": 0, "b1": 1, "b2": 1, "c1": 2, "c2": 2, "x": 2}


def replayed(*decisions):
    review = corrections.checked(review_of(list(decisions)), "tiny")
    return corrections.replay(review, CLUSTERS)


def test_each_action_replays_on_hand_made_clusters():
    state = replayed(
        {"action": "merge", "clusters": [0, 1], "into": 0, "photos": ["b1", "b2"]},
        {"action": "split", "clusters": [0], "into": 3, "photos": ["a3"]},
        {"action": "move", "clusters": [2], "into": 3, "photos": ["c2"]},
        {"action": "not_product", "clusters": [2], "photos": ["x"]},
        {"action": "name", "clusters": [3], "name": "Red boot", "photos": []})
    assert state.cluster_of == {"a1": 0, "a2": 0, "a3": 3, "b1": 0, "b2": 0, "c1": 2, "c2": 3}
    assert state.not_product == ["x"] and state.reviewed == {0, 2, 3} and state.names == {3: "Red boot"}
    models = corrections.reviewed_models(state, "abcdef0123")
    assert models["a3"] == models["c2"] == "review-red-boot"
    assert models["a1"] == models["b2"] == "review-abcdef01-cluster-0" and models["c1"] == "review-abcdef01-cluster-2"


def test_a_merge_takes_every_photo_of_the_merged_clusters():
    state = replayed({"action": "merge", "clusters": [1, 2], "into": 2, "photos": ["b1"]})
    assert {name for name, cluster in state.cluster_of.items() if cluster == 2} == {"b1", "b2", "c1", "c2", "x"}


@pytest.mark.parametrize("decision, message", [
    ({"action": "move", "clusters": [0], "into": 1, "photos": ["gone.jpg"]}, "'gone.jpg' is not clustered"),
    ({"action": "move", "clusters": [0], "into": 1, "photos": ["c1"]}, "'c1' is in cluster 2, not in 0"),
    ({"action": "merge", "clusters": [0, 7], "into": 0, "photos": ["a1"]}, "cluster 7 is not in this run"),
    ({"action": "split", "clusters": [0], "into": 1, "photos": ["a1"]}, "number 1 is taken"),
    ({"action": "shuffle", "clusters": [0], "photos": ["a1"]}, "the action must be one of"),
    ({"action": "move", "clusters": [0], "photos": ["a1"]}, "\"into\" must be"),
    ({"action": "split", "clusters": [0], "into": 5, "photos": []}, "\"photos\" must list"),
    ({"action": "name", "clusters": [0], "name": " ", "photos": []}, "non-empty \"name\""),
])
def test_a_decision_that_does_not_fit_the_run_is_refused_with_its_number(decision, message):
    with pytest.raises(corrections.ReviewError, match="decision 1") as raised:
        replayed(decision)
    assert message in str(raised.value)


def test_two_clusters_named_alike_are_refused():
    with pytest.raises(corrections.ReviewError, match="names clusters 0, 1 alike"):
        replayed({"action": "name", "clusters": [0], "name": "Boot", "photos": []},
                 {"action": "name", "clusters": [1], "name": "boot!", "photos": []})


@pytest.mark.parametrize("review, message", [
    ([1, 2], "not a review exported"),
    ({"format": "other"}, "not a review exported"),
    (review_of([], dataset="shoes"), "reviews data set 'shoes', not 'tiny'"),
    ({**review_of([]), "decisions": "all"}, "list of \"decisions\""),
])
def test_a_malformed_review_is_refused(review, message):
    with pytest.raises(corrections.ReviewError, match=message):
        corrections.checked(review, "tiny")


def test_reviewed_models_are_kept_whole_and_the_other_photos_stay():
    labels = [0, 0, 0, 1, 1, 1, 2, 2]
    reviewed = ["m", "m", "", "m", "", "n", "n", ""]
    kept = corrections.keep_reviewed_whole(labels, reviewed)
    assert kept[0] == kept[1] == kept[3] and kept[5] == kept[6] and kept[0] != kept[5]
    assert kept[2] == kept[0] and kept[4] == 1 and kept[7] == 2  # photos of no reviewed model stay
    assert adjusted_rand_score(["m", "m", "m", "n", "n"], [kept[i] for i in (0, 1, 3, 5, 6)]) == 1.0
    assert corrections.keep_reviewed_whole([0, 0], ["a", "b"]) == [0, 1]  # a taken number gives a new one


# --- the page in a real browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def reviewed_run(tmp_path_factory, settings_at):
    """A finished run of 4 models x 4 photos (plain pretrained features, k given) with its review page."""
    settings = run_settings(settings_at, tmp_path_factory.mktemp("review"))
    make_demo(settings.raw_img, n_models=4, photos_per_model=4, seed=5)
    for stage in pipeline.STAGES:
        if stage.name != "02":
            pipeline.run_stage(stage.name, settings)
    return settings


def run_settings(settings_at, root):
    return settings_at(root).replace(use_finetuned=False, cluster_k=4, tsne_perplexity=3)


def copied(settings, tmp_path, settings_at):
    shutil.copytree(settings.root, tmp_path / "run", symlinks=True)
    return run_settings(settings_at, tmp_path / "run")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.downloads = downloads
    yield driver
    driver.quit()


def open_page(driver, settings):
    driver.get((settings.result / "review.html").as_uri())
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready") == "true")


def wait_for(condition, seconds=10):
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def shown_clusters(driver):
    """{cluster number: [photo files]} as the page shows them."""
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.cluster')].map((row) => "
        "[row.dataset.label, [...row.querySelectorAll('.photo')].map((photo) => photo.dataset.file)]))")


def click_photo(driver, name):
    driver.find_element("css selector", f'button.photo[data-file="{name}"]').click()


def select_cluster(driver, label):
    driver.find_element("css selector", f"#cluster-{label} h2 input").click()


def press(driver, key):
    from selenium.webdriver.common.action_chains import ActionChains
    ActionChains(driver).send_keys(key).perform()


def data_files(settings):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in settings.data.glob("*.*")}


@needs_browser
def test_merge_split_move_reload_export_and_apply(reviewed_run, tmp_path, browser, settings_at):
    settings = copied(reviewed_run, tmp_path, settings_at)
    open_page(browser, settings)
    before = shown_clusters(browser)
    labels = sorted(before, key=int)
    assert len(labels) == 4 and sum(map(len, before.values())) == 16
    first, second, third, fourth = labels
    select_cluster(browser, first)
    select_cluster(browser, second)
    press(browser, "m")
    split_off = before[third][:2]
    for name in split_off:
        click_photo(browser, name)
    press(browser, "s")
    moved, stray = before[fourth][0], before[fourth][1]
    click_photo(browser, moved)
    browser.find_element("id", "target").send_keys(third)
    browser.find_element("id", "move").click()
    click_photo(browser, stray)
    press(browser, "x")
    after = shown_clusters(browser)
    merged_into = next(label for label in (first, second) if label in after)
    assert sorted(after[merged_into]) == sorted(before[first] + before[second])
    assert sorted(after["4"]) == sorted(split_off) and moved in after[third] and stray not in sum(after.values(), [])

    browser.refresh()
    wait_for(lambda: browser.execute_script("return document.body.dataset.ready") == "true")
    assert shown_clusters(browser) == after
    assert "4 decision(s)" in browser.find_element("id", "status").text
    browser.find_element("id", "undo").click()
    assert stray in sum(shown_clusters(browser).values(), [])
    browser.find_element("id", "redo").click()
    assert shown_clusters(browser) == after

    press(browser, "e")
    exported = browser.downloads / "review.json"
    wait_for(lambda: exported.is_file() and exported.stat().st_size > 0)
    review = json.loads(exported.read_text())
    assert [d["action"] for d in review["decisions"]] == ["merge", "split", "move", "not_product"]
    assert review["run"] == handoff.run_id(settings)

    pipeline.apply_review(settings, exported)
    predictions = read_csv(settings.path("predictions"))
    assert {label: sorted(files) for label, files in predictions.groupby("cluster")["file"]} == \
        {label: sorted(files) for label, files in after.items()}
    rejected = read_csv(settings.path("rejected"))
    assert rejected.loc[rejected["stage"] == "review", "file"].tolist() == [stray]
    reviewed = handoff.reviewed_models(settings)
    assert reviewed[stray] == "" and len({reviewed[name] for name in after[merged_into]}) == 1
    page = (settings.result / "review.html").read_text()  # made again, on the corrected clusters
    assert f'"run":"{handoff.run_id(settings)}"' in page and handoff.run_id(settings) != review["run"]

    unchanged = data_files(settings)
    assert pipeline.apply_review(settings, exported) is None  # applied before: nothing changes
    assert data_files(settings) == unchanged

    pipeline.run_stage("split", settings)  # made again: the reviewed clusters are known models
    split = read_csv(settings.path("split"))
    assert set(reviewed.values()) - {""} <= set(split.loc[split["role"] == "known", "model_id"])
    assert (settings.train_img / reviewed[moved]).is_dir()
    pipeline.run_stage("04", settings, force=True)
    clustered = handoff.load_clustered(settings)
    rows = [row for row, name in enumerate(clustered.files) if reviewed.get(name)]
    assert stray not in clustered.files
    assert adjusted_rand_score([reviewed[clustered.files[row]] for row in rows], clustered.clusters[rows]) == 1.0


def test_a_review_of_other_clusters_or_gone_photos_changes_nothing(reviewed_run, tmp_path, settings_at):
    settings = copied(reviewed_run, tmp_path, settings_at)
    predictions = read_csv(settings.path("predictions"))
    first = predictions.iloc[0]
    move = {"action": "move", "clusters": [int(first["cluster"])], "into": int(predictions["cluster"].max()),
            "photos": [first["file"]]}
    before = data_files(settings)
    cases = [(review_of([move], run="0123456789abcdef"), "was made on other clusters"),
             (review_of([{**move, "photos": ["gone.jpg"]}], run=handoff.run_id(settings)), "'gone.jpg' is not"),
             ("{not json", "is not a review exported by review.html")]
    for number, (review, message) in enumerate(cases):
        path = tmp_path / f"review{number}.json"
        path.write_text(review if isinstance(review, str) else json.dumps(review))
        with pytest.raises(corrections.ReviewError, match=message):
            pipeline.apply_review(settings, path)
        assert data_files(settings) == before


def test_the_script_names_the_file_and_the_problem(reviewed_run, tmp_path):
    import os
    import subprocess
    import sys
    bad = tmp_path / "review.json"
    bad.write_text(json.dumps({"format": corrections.FORMAT, "dataset": "other", "run": "x", "decisions": []}))
    done = subprocess.run([sys.executable, str(REPO / "apply_review.py"), "--dataset", "tiny", str(bad)],
                          capture_output=True, text=True,
                          env={**os.environ, "PRODCLUSTER_WORK_DIR": str(reviewed_run.root)})
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {bad} reviews data set 'other', not 'tiny': pass --dataset other")


def test_after_a_review_new_photos_join_the_corrected_clusters(reviewed_run, tmp_path, settings_at):
    settings = copied(reviewed_run, tmp_path, settings_at)
    predictions = read_csv(settings.path("predictions"))
    largest = predictions["cluster"].value_counts().index[0]
    members = predictions.loc[predictions["cluster"] == largest, "file"].tolist()
    review = review_of([{"action": "not_product", "clusters": [int(largest)], "photos": members[:1]},
                        {"action": "name", "clusters": [int(largest)], "name": "Tote", "photos": []}],
                       run=handoff.run_id(settings))
    path = tmp_path / "review.json"
    path.write_text(json.dumps(review))
    pipeline.apply_review(settings, path)
    corrected = read_csv(settings.path("predictions"))
    new_photos = tmp_path / "monday"
    new_photos.mkdir()
    shutil.copy(settings.raw_img / members[1], new_photos / "again.jpg")
    pipeline.assign_new_photos(settings, new_photos, "monday")
    after = read_csv(settings.path("predictions"))
    assert after.iloc[:len(corrected)][["file", "cluster"]].equals(corrected[["file", "cluster"]])
    assert after.loc[after["file"] == "monday/again.jpg", "cluster"].tolist() == [largest]
    assert members[0] not in set(after["file"]) and handoff.reviewed_models(settings)[members[1]] == "review-tote"
    with pytest.raises(StaleInputs, match="reviewed.csv"):  # stage 05 leaves the review for the next fine-tuning
        check_up_to_date(pipeline.BY_NAME["split"], settings)
