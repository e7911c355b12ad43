"""The Fashion-MNIST harness end to end on a tiny generated source (no Debian package needed)."""
import json

import numpy as np

from benchmarks import fashion_mnist
from tests.test_fmnist_data import tiny_split, write_source

KEYS = {"dataset", "method", "ari_all", "ari_unseen", "ari_seen", "nmi", "ami", "acc", "k_true", "k_pred",
        "recall_at_1_unseen", "stage_seconds", "images_per_second", "peak_rss_mb", "backbone", "image_size",
        "preprocess", "cluster_method", "git_commit", "command", "machine", "k_criterion"}


def test_tiny_harness_writes_every_record_and_the_table(tmp_path):
    rng = np.random.default_rng(0)
    source = write_source(tmp_path / "source", tiny_split(12, rng), tiny_split(15, rng))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:start -->\nold\n<!-- results:end -->\ntail\n")
    argv = ["--source", str(source), "--root", str(tmp_path / "work"), "--per-class", "12", "--epochs", "1",
            "--image-size", "48", "--results", str(tmp_path / "results"), "--readme", str(readme)]
    records = fashion_mnist.run(fashion_mnist.parse_args(argv), "test")
    methods = {entry["method"] for entry in records}
    assert methods == {"ours", "ours_no_finetune", "ours_true_k", "ours_no_finetune_true_k", "baseline"}
    for path in (tmp_path / "results").glob("*.json"):
        entry = json.loads(path.read_text())
        assert KEYS <= set(entry), KEYS - set(entry)
        assert entry["k_true"] == 10 and entry["dataset"] == "fmnist_test"
    true_k = [e for e in records if e["method"] == "ours_true_k"][0]
    assert true_k["k_pred"] == 10
    text = readme.read_text()
    assert "old" not in text and "| fmnist_test | ours |" in text and text.endswith("tail\n")
