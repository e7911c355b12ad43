"""Stage 04: cluster the feature vectors with a Self-Organising Map and predict the number of clusters.

Writes data/<DATASET>/predictions.csv (file, cluster), labels_pred.txt (one label a line in
image-list order, -1 for rejected photos), clustering.json and som_weights.npy.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, *cli.CLUSTERING, "neighbour_expansion", "whiten_components", stages=("04",))
    args = parser.parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("04", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
