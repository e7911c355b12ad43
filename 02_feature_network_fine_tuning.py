"""Stage 02: fine-tune an ImageNet-pretrained backbone on the known models' photos.

Reads training_img/<DATASET>/<MODELID>/ and writes models/<DATASET>/finetuned.keras,
classes.json and history.csv (joined backbones: one folder each, models/<DATASET>/<BACKBONE>/).
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, *cli.NETWORK, "epochs", stages=("02",))
    args = cli.add_weights_option(parser).parse_args(argv)
    from prodcluster import pipeline
    pipeline.run_stage("02", cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
