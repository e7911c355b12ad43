"""Score the predicted clusters against the true model ids: adjusted Rand index and related scores.

Scores all photos, and separately the photos of models seen in fine-tuning and of unseen
models. Prints a table and writes data/<DATASET>/metrics.json.
"""
import config
from prodcluster import cli, stages


def main(argv=None):
    args = cli.parser(__doc__).parse_args(argv)
    stages.evaluate(cli.settings(config, args))


if __name__ == "__main__":
    main()
