"""Score the predicted clusters against the true model ids: adjusted Rand index and related scores.

Scores all photos, and separately the photos of models seen in fine-tuning and of unseen
models. Prints a table and writes data/<DATASET>/metrics.json.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, stages=("evaluation",))
    args = parser.parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("evaluation", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
