"""Pictures of the result: t-SNE of the features, the SOM U-matrix and a contact sheet per cluster.

Writes PNG files to result/<DATASET>/.
"""
import config
from prodcluster import cli, stages


def main(argv=None):
    args = cli.parser(__doc__).parse_args(argv)
    stages.visualize(cli.settings(config, args))


if __name__ == "__main__":
    main()
