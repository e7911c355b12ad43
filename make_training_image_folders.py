"""Split model ids into known and held-out models, and make one photo folder per known model.

Writes data/<DATASET>/split.csv and training_img/<DATASET>/<MODELID>/ (links to the
preprocessed photos). Held-out models never reach fine-tuning.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, "train_fraction", stages=("split",))
    args = parser.parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("split", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
