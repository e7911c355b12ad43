"""Pictures of the result: t-SNE of the features, the SOM U-matrix and a contact sheet per cluster.

Writes PNG files to result/<DATASET>/.
"""
import config
from prodcluster import cli, pipeline


def main(argv=None):
    args = cli.parser(__doc__).parse_args(argv)
    pipeline.run_stage("visualize", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
