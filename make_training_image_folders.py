"""Split model ids into known, calibration and held-out models, and make one photo folder per known model.

Writes data/<DATASET>/split.csv and training_img/<DATASET>/<MODELID>/ (links to the
preprocessed photos). Held-out and calibration models never reach fine-tuning; stage 04
learns from the calibration models' photos how many models a set holds.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, "train_fraction", "calibration_share", stages=("split",))
    args = parser.parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("split", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
