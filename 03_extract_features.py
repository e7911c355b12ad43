"""Stage 03: one feature vector per photo of img/<DATASET>, in image-list order.

Uses the fine-tuned network of stage 02 when it exists, else the plain pretrained backbone.
Writes data/<DATASET>/features.npy (float32, N x D), feature_files.txt and features.json; with
CALIBRATION_SHARE above 0, also the vectors of the calibration models that the split of the
network's data set kept out of fine-tuning (calibration.npy, calibration.csv), for stage 04.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, *cli.NETWORK, *cli.ENGINE, "feature_layer", "finetuned_from", "runtime",
                        "test_time_flip", "calibration_share", stages=("03",))
    args = cli.add_weights_option(parser).parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("03", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
