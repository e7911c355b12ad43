"""The organisers' 2019 baseline: pretrained features, no fine-tuning, KMeans with k = N / 70.

It reads the same files as the pipeline (stage 00's data/<DATASET>/labels.csv and the photos
in img/<DATASET>, or raw_img/<DATASET> with --raw) and writes its own outputs to
data/<DATASET>/baseline/: features.npy, predictions.csv, labels_pred.txt, metrics.json. Like
the pipeline's evaluation, it scores only the photos whose names give their model.
The original used MobileNetV2 (alpha 1.4, 224 px) from TF Hub; --backbone efficientnet_lite0
runs the same method offline, and the backbone is recorded in metrics.json.
"""
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import config  # noqa: E402
from prodcluster import cli, metrics  # noqa: E402
from prodcluster.backbones import build_backbone  # noqa: E402
from prodcluster.batches import iter_batches  # noqa: E402
from prodcluster.fileio import save_npy, write_csv, write_json, write_lines  # noqa: E402
from prodcluster.handoff import known_models, load_labels  # noqa: E402

NUM_IMGS_PER_MODEL = 70
IMAGE_SIZE = 224


def extract(paths, settings, backbone):
    network = build_backbone(backbone, IMAGE_SIZE, settings.backbone_weights.get(backbone), settings.cache)
    rows, vectors = [], []
    batches = iter_batches(paths, IMAGE_SIZE, settings.batch_size, settings.max_image_pixels)
    for batch_rows, images, errors in tqdm(batches, total=-(-len(paths) // settings.batch_size), desc="features"):
        for row, error in errors:
            print(f"skipped {error}", file=sys.stderr)
        if len(batch_rows):
            rows += batch_rows.tolist()
            vectors.append(np.asarray(network.predict_on_batch(images), np.float32))
    return np.array(rows), np.concatenate(vectors)


def run(settings, backbone="mobilenet_v2", raw=False):
    """Baseline features, KMeans at k = round(N / 70), and the pipeline's scores of the photos named with a model."""
    labels = load_labels(settings)
    folder = settings.raw_img if raw else settings.img
    out = settings.data / "baseline"
    start = time.perf_counter()
    rows, features = extract([folder / name for name in labels["file"]], settings, backbone)
    extract_seconds = time.perf_counter() - start
    k = max(1, round(len(rows) / NUM_IMGS_PER_MODEL))
    start = time.perf_counter()
    predicted = KMeans(n_clusters=k, n_init=10, random_state=settings.seed).fit_predict(features)
    cluster_seconds = time.perf_counter() - start
    files = labels["file"].to_numpy()[rows]
    save_npy(out / "features.npy", features)
    write_csv(out / "predictions.csv", pd.DataFrame({"file": files, "cluster": predicted}))
    by_file = dict(zip(files, predicted))
    write_lines(out / "labels_pred.txt", [by_file.get(name, -1) for name in labels["file"]])
    true = labels["model_id"].to_numpy()[rows]
    named = true != ""
    seen = known_models(settings.replace(dataset=settings.finetuned_from or settings.dataset))
    scores = metrics.split_scores(true[named], predicted[named], seen)
    report = {"scores": scores, "backbone": backbone, "image_size": IMAGE_SIZE, "k": k,
              "stage_seconds": {"features": extract_seconds, "cluster": cluster_seconds},
              "source": "raw_img" if raw else "img"}
    write_json(out / "metrics.json", report)
    print(metrics.format_table(scores))
    return report


def main(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--backbone", default="mobilenet_v2", choices=["mobilenet_v2", "efficientnet_lite0"],
                        help="feature network (the original: mobilenet_v2; offline: efficientnet_lite0)")
    parser.add_argument("--raw", action="store_true", help="read raw_img/<DATASET> instead of img/<DATASET>")
    parser.add_argument("--finetuned-from", help="data set whose known models count as seen in the scores")
    args = parser.parse_args(argv)
    run(cli.settings(config, args), backbone=args.backbone, raw=args.raw)


if __name__ == "__main__":
    main()
