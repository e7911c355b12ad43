"""Run every stage in order, from labels to pictures, and print the scores.

On the default "demo" data set the photos are generated first when raw_img/demo is missing,
so this runs offline on a fresh clone. A folder of photos none of whose names gives its model
runs too: fine-tuning then has nothing to learn from and steps aside.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, "preprocess", "train_fraction", "calibration_share", "use_finetuned", *cli.NETWORK,
                        "epochs", "finetuned_from", "self_training", *cli.ENGINE, *cli.CLUSTERING)
    args = cli.add_weights_option(parser).parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_all(cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
