"""The speed benchmark: a tiny run end to end, its FLOP count, its arguments and its table."""
import argparse
import json
import os
import re

import keras
import pytest

from benchmarks import speed
from prodcluster.backbones import build_backbone

BACKBONE_KEYS = {"photos_per_second_03", "naive_photos_per_second", "roofline_fraction_03", "speedup_vs_naive_03",
                 "gflop_per_photo", "profile_03", "weights"}
TOP_KEYS = {"peak_gflops", "backbones", "speedup_01_2proc", "per_photo_ratio_10k_vs_1k", "peak_rss_mb_10k",
            "git_commit", "command", "machine", "stages"}
README_TEXT = "# Benchmarks\nintro\n<!-- speed:start -->\nold table\n<!-- speed:end -->\ntail\n"


@pytest.mark.slow
def test_tiny_run_writes_every_key_and_the_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT)
    results = tmp_path / "speed.json"
    argv = ["--sizes", "20", "--backbones", "efficientnet_lite0:32", "--root", str(tmp_path / "work"),
            "--photos-per-model", "5", "--profile-photos", "8", "--preprocess", "none", "--workers", "1",
            "--batch-size", "8", "--matmul-size", "256",
            "--results", str(results), "--readme", str(readme)]
    speed.main(argv)
    record = json.loads(results.read_text())
    assert TOP_KEYS <= set(record), TOP_KEYS - set(record)
    lite = record["backbones"]["efficientnet_lite0@32"]
    assert BACKBONE_KEYS <= set(lite), BACKBONE_KEYS - set(lite)
    assert lite["photos_per_second_03"] > 0 and lite["naive_photos_per_second"] > 0 and record["peak_gflops"] > 0
    assert set(lite["profile_03"]["seconds"]) == set(speed.PROFILE_PIECES) and lite["profile_03"]["photos"] == 8
    assert set(record["stages"]) == {"20"}
    for results_by_stage in record["stages"].values():
        assert set(results_by_stage) == set(speed.STAGES)
        # every stage child imports TensorFlow: far more than an empty interpreter's memory
        assert all(result["peak_rss_mb"] > 100 for result in results_by_stage.values())
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# Benchmarks\nintro\n") and text.endswith("tail\n")
    assert "| 20 |" in text and "| efficientnet_lite0 | 32 | keras | imagenet |" in text and record["command"] in text


def test_multiply_adds_count_each_kernel_weight_once_per_output_position():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)  # 8*8 positions x 3*3*3*4
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 4*4 positions x 3*3*4
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(x))  # 4*5
    assert speed.multiply_adds(keras.Model(inputs, outputs)) == 8 * 8 * 108 + 4 * 4 * 36 + 20


@pytest.mark.parametrize("name, size, published", [("efficientnet_lite0", 224, 0.40e9), ("inception_v3", 299, 5.7e9)])
def test_multiply_adds_of_the_backbones_match_published_counts(name, size, published):
    count = speed.multiply_adds(build_backbone(name, size, pretrained=False))
    assert count == pytest.approx(published, rel=0.05)


@pytest.mark.parametrize("argv", [["--sizes", "10,0"], ["--sizes", "10,10"], ["--backbones", "inception_v3"],
                                  ["--backbones", "inception_v3:0"], ["--profile-photos", "0"], ["--workers", "0"]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit):
        speed.parse_args(argv)


def test_the_table_replaces_only_the_text_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README_TEXT)
    speed.update_readme(readme, "new table")
    assert readme.read_text() == README_TEXT.replace("old table", "new table")
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="markers"):
        speed.update_readme(readme, "new table")


def test_matmul_peak_is_printed_and_within_what_the_cores_can_do(capsys):
    gflops = speed.matmul_peak_gflops(128, seed=0, repeats=2)
    printed = re.search(r"128x128: ([\d.]+) GFLOP/s", capsys.readouterr().out)
    assert printed and abs(float(printed.group(1)) - gflops) <= 0.06  # printed to 0.1, returned to 0.01
    assert 0 < gflops < (os.cpu_count() or 1) * 6.0 * 64  # cores x 6 GHz x 64 float32 FLOPs per cycle (2 AVX-512 FMAs)


def test_backbones_take_an_optional_runtime():
    assert speed._backbones("efficientnet_lite0:224,efficientnet_lite0:224:tflite") == (
        ("efficientnet_lite0", 224, "keras"), ("efficientnet_lite0", 224, "tflite"))
    with pytest.raises(argparse.ArgumentTypeError, match="NAME:SIZE:RUNTIME"):
        speed._backbones("efficientnet_lite0:224:onnx")
