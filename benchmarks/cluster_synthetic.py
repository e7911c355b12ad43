"""How well does each clustering method and k criterion recover the number of groups?

Synthetic stand-ins for backbone features: Gaussian blobs (sklearn make_blobs) in high
dimension with uneven group sizes and spreads; the spread inside each group is squeezed
by a random map with a decaying spectrum (anisotropic, dominated by a few directions);
all vectors get a shared offset (backbone features lie in one cone) and are
L2-normalised. `separation` sets the noise: at 512 dimensions, 5 gives the nearest
neighbour from the same group for about 99% of images (separated groups), 3 for about
87% (overlapping groups, like a backbone that confuses similar models).

    python benchmarks/cluster_synthetic.py           # table: true k, chosen k, ARI, seconds
    python benchmarks/cluster_synthetic.py --speed   # default method on 10,000 x 2,048
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from prodcluster.clustering import CRITERIA, SOM_DEFAULTS, cluster  # noqa: E402

REGIMES = {
    "10x1000": lambda rng: [1000] * 10,
    "150x10-70": lambda rng: rng.integers(10, 71, size=150).tolist(),
    "24x10": lambda rng: [10] * 24,
}


def make_features(sizes, dim=512, separation=3.0, anisotropic=True, seed=0):
    """Return (features float32 N x dim, L2-normalised; true labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), dim))
    spread = np.sqrt(np.sqrt(dim / 2) / separation)
    stds = spread * rng.uniform(0.7, 1.3, size=len(sizes))
    data, labels = make_blobs(
        n_samples=sizes, n_features=dim, centers=centres, cluster_std=stds, random_state=seed
    )
    if anisotropic:
        offsets = data - centres[labels]
        data = centres[labels] + offsets @ _squeezing_map(dim, rng)
    data += 0.5 * np.abs(data).mean() * np.sqrt(dim) * _unit(rng.standard_normal(dim))
    return _unit(data).astype(np.float32), labels


def _squeezing_map(dim, rng):
    """Random rotation times a decaying spectrum with mean square 1."""
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    spectrum = np.arange(1, dim + 1) ** -0.25
    return rotation * (spectrum / np.sqrt(np.mean(spectrum**2)))


def _unit(vectors):
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def run_case(features, labels, method, **options):
    start = time.perf_counter()
    result = cluster(features, method=method, **options)
    seconds = time.perf_counter() - start
    return result.k, adjusted_rand_score(labels, result.labels), seconds


def comparison_table(dim, separations, seed, variants):
    print("| regime | separation | true k | method | chosen k | ARI | s |")
    print("|---|---|---|---|---|---|---|")
    for separation in separations:
        for regime, sizes_for in REGIMES.items():
            sizes = sizes_for(np.random.default_rng(seed))
            features, labels = make_features(sizes, dim, separation, seed=seed)
            for name, (method, options) in variants.items():
                k, ari, seconds = run_case(features, labels, method, **options)
                row = [regime, separation, len(sizes), name, k, f"{ari:.3f}", f"{seconds:.1f}"]
                print("| " + " | ".join(map(str, row)) + " |", flush=True)


def default_variants():
    variants = {f"som/{name}": ("som", {"criterion": name}) for name in [SOM_DEFAULTS["criterion"], *CRITERIA]}
    variants.update(
        {
            "som_nodes (2019)": ("som_nodes", {}),
            "kmeans N/70": ("kmeans", {}),
            "agglomerative/silhouette": ("agglomerative", {}),
            "hdbscan": ("hdbscan", {}),
        }
    )
    return variants


def speed(n_images=10_000, dim=2048, seed=0):
    sizes = [n_images // 10] * 10
    features, labels = make_features(sizes, dim, separation=3.0, seed=seed)
    k, ari, seconds = run_case(features, labels, "som")
    print(f"som on {n_images} x {dim}: {seconds:.1f} s, k={k}, ARI={ari:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--separation", type=float, nargs="+", default=[5.0, 3.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", action="store_true", help="time the default method on 10,000 x 2,048")
    args = parser.parse_args()
    if args.speed:
        speed(seed=args.seed)
    else:
        comparison_table(args.dim, args.separation, args.seed, default_variants())


if __name__ == "__main__":
    main()
