"""Split model ids into known and held-out models, and make one photo folder per known model.

Writes data/<DATASET>/split.csv and training_img/<DATASET>/<MODELID>/ (links to the
preprocessed photos). Held-out models never reach fine-tuning.
"""
import config
from prodcluster import cli, pipeline, split


def main(argv=None):
    parser = cli.parser(__doc__)
    parser.add_argument("--train-fraction", type=float,
                        help="share of model ids used for fine-tuning (default: TRAIN_FRACTION in config.py)")
    args = parser.parse_args(argv)
    made = pipeline.run_stage("split", cli.settings(config, args), force=args.force)
    if made is None:
        return
    table, linked = made
    known = (table["role"] == split.KNOWN).sum()
    print(f"split: {known} known and {len(table) - known} held-out models; {linked} training photos linked")


if __name__ == "__main__":
    cli.run(main)
