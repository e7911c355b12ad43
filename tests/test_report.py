"""The HTML report and the exports, from a tiny pipeline run: stages 00, 01 and 04, evaluation and pictures.

Features are written directly (three well-separated groups, one per model) so that the run
takes seconds; everything after them is the real code. The browser test needs Debian's
`chromium` and is skipped where it is absent.
"""
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from prodcluster import handoff, report, stages
from prodcluster.demo import make_demo
from prodcluster.fileio import load_npy, read_csv, read_image, save_npy, write_csv, write_json, write_lines
from prodcluster.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]
HOSTILE_NAME = "M001_P9#1_<img src=x onerror=alert(1)>&'\".jpg"
UNREADABLE_NAME = "M002_P8_I1.jpg"


def tiny_settings(root):
    return Settings(dataset="tiny", root=root, seed=7, workers=1, tsne_perplexity=3)


def write_features(settings, dims=16):
    """Unit vectors near one centre per true model, for the photos that stage 01 kept."""
    listed = handoff.load_labels(settings)
    model_of = dict(zip(listed["file"], listed["model_id"]))
    files = sorted(path.name for path in settings.img.iterdir() if path.name in model_of)
    models = sorted(set(model_of.values()))
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(len(models), dims))
    vectors = np.stack([centres[models.index(model_of[name])] for name in files]) + rng.normal(size=(len(files), dims))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    save_npy(settings.path("features"), vectors.astype(np.float32))
    write_lines(settings.path("feature_files"), files)
    write_json(settings.path("features_info"), {"backbone": "synthetic", "source": "test", "n_images": len(files),
                                                     "dim": dims})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished run of 3 models x 4 photos, one photo with a hostile name and one unreadable photo."""
    settings = tiny_settings(tmp_path_factory.mktemp("run"))
    photos = make_demo(settings.raw_img, n_models=3, photos_per_model=4, seed=3)
    shutil.copy(photos[0], settings.raw_img / HOSTILE_NAME)
    (settings.raw_img / UNREADABLE_NAME).write_bytes(b"not a photo")
    stages.make_labels(settings)
    stages.preprocess(settings)
    stages.make_training_folders(settings)
    write_features(settings)
    stages.cluster(settings)
    stages.evaluate(settings)
    stages.visualize(settings)
    page = report.write_report(settings)
    return settings, page


def copy_of(tiny_run, tmp_path):
    settings, _ = tiny_run
    shutil.copytree(settings.root, tmp_path / "run", symlinks=True)
    return tiny_settings(tmp_path / "run")


class PageParser(HTMLParser):
    """Element ids and classes, links, image sources and texts, the text, and each table row's cells."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images, self.alts, self.text, self.classes = [], [], [], [], [], []
        self.rows, self.in_row = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids += [attrs["id"]] if "id" in attrs else []
        self.classes += attrs.get("class", "").split()
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
            self.alts.append(attrs.get("alt"))
        if tag == "tr":
            self.rows.append([])
            self.in_row = True

    def handle_endtag(self, tag):
        self.in_row = self.in_row and tag != "tr"

    def handle_data(self, data):
        self.text.append(data)
        if self.in_row and data.strip():
            self.rows[-1].append(data.strip())


def parsed(text):
    parser = PageParser()
    parser.feed(text)
    return parser


def chromium(tmp_path, page, *action):
    done = subprocess.run([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *action,
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def console_messages(stderr):
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium (apt-get install chromium)")
def test_page_renders_in_chromium_with_every_section_and_no_console_message(tiny_run, tmp_path):
    settings, page = tiny_run
    shot = tmp_path / "report.png"
    shown = chromium(tmp_path, page, "--window-size=1280,3000", f"--screenshot={shot}")
    dumped = chromium(tmp_path, page, "--dump-dom")
    screenshot = read_image(shot)
    assert screenshot.shape[:2] == (3000, 1280) and screenshot.std() > 10
    dom = parsed(dumped.stdout)
    assert set(report.SECTIONS) | {"summary"} <= set(dom.ids)
    n_clusters = read_csv(settings.path("predictions"))["cluster"].nunique()
    assert dom.classes.count("cluster") == n_clusters
    assert HOSTILE_NAME in dom.alts
    assert "x" not in dom.images and all(source.startswith(settings.path("report_thumbs").name) or source.endswith(".png")
                                         for source in dom.images)
    assert console_messages(shown.stderr + dumped.stderr) == []


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium (apt-get install chromium)")
def test_console_check_sees_a_script_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><script>no_such_function()</script></body></html>")
    assert console_messages(chromium(tmp_path, page, "--dump-dom").stderr)


def test_every_link_and_image_on_the_page_resolves(tiny_run):
    _, page = tiny_run
    dom = parsed(page.read_text(encoding="utf-8"))
    anchors = [link[1:] for link in dom.links if link.startswith("#")]
    files = [unquote(link) for link in dom.links + dom.images if not link.startswith("#")]
    assert anchors and files
    assert set(anchors) <= set(dom.ids)
    assert all((page.parent / name).exists() for name in files), [n for n in files if not (page.parent / n).exists()]
    assert not any(name.startswith(("/", "http:", "https:")) for name in files)


def test_scores_clusters_and_rejected_photo_are_on_the_page(tiny_run):
    settings, page = tiny_run
    dom = parsed(page.read_text(encoding="utf-8"))
    assert len(read_csv(settings.path("predictions"))) == 13
    score_rows = {row[0]: row[1:] for row in dom.rows if row and row[0] in ("all", "seen", "unseen")}
    assert set(score_rows) == {"all", "seen", "unseen"}
    text = " ".join(dom.text)
    assert "purity 1.00" in text and "M001 × 5" in text
    assert "Only 13 photos: at this size the scores and the number of clusters say little." in text
    rejected_rows = [row for row in dom.rows if UNREADABLE_NAME in row]
    assert rejected_rows and "stage 01" in rejected_rows[0][-1]


def test_exports_link_every_clustered_photo_and_describe_every_photo(tiny_run):
    settings, _ = tiny_run
    predictions = read_csv(settings.path("predictions"))
    folders = sorted((settings.path("cluster_links")).iterdir())
    assert len(folders) == predictions["cluster"].nunique()
    linked = {link.name: link for folder in folders for link in folder.iterdir()}
    assert set(linked) == set(predictions["file"])
    assert all(link.is_symlink() and link.resolve() == (settings.raw_img / name).resolve()
               for name, link in linked.items())
    exported = read_csv(settings.path("clusters_export"))
    assert sorted(exported["file"]) == sorted(handoff.load_labels(settings)["file"])
    assert all(Path(path).is_absolute() and Path(path).is_file() for path in exported["original_path"])
    bad = exported.set_index("file").loc[UNREADABLE_NAME]
    assert bad["cluster"] == "" and "stage 01" in bad["rejected"]
    hostile = exported.set_index("file").loc[HOSTILE_NAME]
    assert hostile["model_id"] == "M001" and hostile["cluster"] != ""


def test_projector_files_agree_with_features(tiny_run):
    settings, _ = tiny_run
    folder = settings.path("projector")
    features = np.load(settings.path("features"))
    np.testing.assert_allclose(np.loadtxt(folder / "features.tsv", delimiter="\t"), features, rtol=1e-5)
    metadata = (folder / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert metadata[0] == "file\tcluster\tmodel_id" and len(metadata) == len(features) + 1
    assert all(len(line.split("\t")) == 3 for line in metadata)
    config = (folder / "projector_config.pbtxt").read_text()
    per_side, cell = report._sprite_layout(len(features))
    assert f"single_image_dim: {cell}" in config and f"tensor_shape: {features.shape[1]}" in config
    assert read_image(folder / "sprite.jpg").shape == (per_side * cell, per_side * cell, 3)


@pytest.mark.parametrize("n_photos", [1, 240, 10_000, 1_000_000])
def test_sprite_stays_within_the_projector_limit(n_photos):
    per_side, cell = report._sprite_layout(n_photos)
    assert per_side ** 2 >= n_photos and 1 <= cell <= report.SPRITE_MAX_CELL
    assert per_side * cell <= report.SPRITE_MAX_SIDE


def test_too_many_photos_for_one_sprite_raise():
    with pytest.raises(ValueError, match="sprite"):
        report._sprite_layout(report.SPRITE_MAX_SIDE ** 2 + 1)


def test_merged_pairs_count_photo_pairs_in_shared_clusters(tiny_run, tmp_path):
    settings = copy_of(tiny_run, tmp_path)
    predictions = read_csv(settings.path("predictions"))
    models = predictions["file"].str.split("_").str[0]
    # M001 (5 photos) and M002 (4 readable photos) in one cluster: 20 photo pairs; M003 alone.
    predictions["cluster"] = np.where(models == "M003", 1, 0)
    write_csv(settings.path("predictions"), predictions)
    dom = parsed(report.write_report(settings).read_text(encoding="utf-8"))
    pair_rows = [row for row in dom.rows if "M001" in row and "M002" in row]
    assert len(pair_rows) == 1 and "20" in pair_rows[0]
    assert "purity 0.56" in " ".join(dom.text)


def test_pure_clusters_do_not_hide_a_split_model(tiny_run, tmp_path):
    settings = copy_of(tiny_run, tmp_path)
    predictions = read_csv(settings.path("predictions"))
    models = predictions["file"].str.split("_").str[0]
    # every cluster pure, but M001's 5 photos in two clusters (3 and 2)
    first_two = (models == "M001") & (models.groupby(models).cumcount() < 2)
    predictions["cluster"] = np.select([first_two, models == "M001", models == "M002"], [3, 0, 1], default=2)
    write_csv(settings.path("predictions"), predictions)
    dom = parsed(report.write_report(settings).read_text(encoding="utf-8"))
    text = " ".join(dom.text)
    assert "1 of 3 models have photos in more than one cluster" in text
    split_rows = [row for row in dom.rows if row and row[0] == "M001"]
    assert split_rows == [["M001", "5", "2", "0 (3), 3 (2)"]]


def test_report_without_true_models(tiny_run, tmp_path):
    settings = copy_of(tiny_run, tmp_path)
    listed = read_csv(settings.path("labels"))
    write_csv(settings.path("labels"), listed.drop(columns=["model_id"]))
    page = report.write_report(settings)
    text = " ".join(parsed(page.read_text(encoding="utf-8")).text)
    assert "purity" not in text and "No scores" in text
    assert "model_id" not in read_csv(settings.path("clusters_export")).columns
    header = (settings.path("projector") / "metadata.tsv").read_text().splitlines()[0]
    assert header == "file\tcluster"


def test_rerun_replaces_outputs_and_leaves_no_temporary_files(tiny_run, tmp_path):
    settings = copy_of(tiny_run, tmp_path)
    stale = settings.path("report_thumbs") / "stale.jpg"
    stale.write_bytes(b"left over")
    before = (settings.path("report")).read_text(encoding="utf-8")
    report.write_report(settings)
    assert (settings.path("report")).read_text(encoding="utf-8") == before
    assert not stale.exists()
    assert not [path.name for path in settings.result.iterdir() if path.name.startswith(".")]


def test_missing_predictions_name_the_stage(tmp_path):
    settings = tiny_settings(tmp_path)
    make_demo(settings.raw_img, n_models=2, photos_per_model=2, seed=1)
    stages.make_labels(settings)
    stages.preprocess(settings)
    write_features(settings)
    with pytest.raises(FileNotFoundError, match="04_cluster_som.py"):
        report.write_report(settings)


def test_refined_vectors_are_clustered_and_their_map_drawn(tiny_run, tmp_path):
    settings = copy_of(tiny_run, tmp_path).replace(neighbour_expansion=2, whiten_components=4)
    result = stages.cluster(settings)
    assert load_npy(settings.path("som_weights")).shape[-1] == 4  # the map lives in the whitened space
    assert len(result.labels) == len(handoff.load_features(settings)[1])
    stages.evaluate(settings)
    assert settings.result / "umatrix.png" in stages.visualize(settings)


@pytest.mark.parametrize("recorded, stood", [({"maps_silhouette": [0.12, 0.16, 0.13]}, "separated the photos best"),
                                             ({}, "was the most typical")])
def test_a_dropped_agreement_names_the_map_that_stood(recorded, stood):
    agreement = {"maps_k": [19, 10, 24], "kept": False, "k": 40, "agreed_silhouette": 0.07,
                 "typical_silhouette": 0.12, **recorded}
    text = report._agreement_text(10, agreement, "modularity")
    assert f"that {stood}." in text and "19, 10, 24" in text and "0.070 against 0.120" in text
