"""Pictures of the result: t-SNE of the features, the SOM U-matrix and a contact sheet per cluster.

Writes PNG files to result/<DATASET>/.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, stages=("visualize",))
    args = parser.parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("visualize", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
