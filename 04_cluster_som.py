"""Stage 04: cluster the feature vectors with a Self-Organising Map and predict the number of clusters.

Writes data/<DATASET>/predictions.csv (file, cluster), labels_pred.txt (one label a line in
image-list order, -1 for rejected photos), clustering.json and som_weights.npy.
"""
import config
from prodcluster import cli, clustering, pipeline


def main(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--cluster-method", choices=sorted(clustering.METHODS),
                        help="clustering method (default: CLUSTER_METHOD in config.py)")
    parser.add_argument("--cluster-k", type=int, help="number of clusters for methods that take one")
    parser.add_argument("--k-criterion", metavar="NAME[+NAME]",
                        help=f"how som and agglomerative choose k: one of {', '.join(clustering.CRITERIA)}, or "
                             "several joined by '+' (the largest k wins) (default: K_CRITERION in config.py)")
    parser.add_argument("--neighbour-expansion", type=int, metavar="K",
                        help="add each vector's K nearest neighbours to it first (default: NEIGHBOUR_EXPANSION, 0: off)")
    parser.add_argument("--whiten-components", type=int, metavar="D",
                        help="shrunk whitening to D components first (default: WHITEN_COMPONENTS, 0: off)")
    args = parser.parse_args(argv)
    pipeline.run_stage("04", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
