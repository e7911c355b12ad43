"""Stage 02: fine-tune an ImageNet-pretrained backbone on the known models' photos.

Reads training_img/<DATASET>/<MODELID>/ and writes models/<DATASET>/finetuned.keras,
classes.json and history.csv (joined backbones: one folder each, models/<DATASET>/<BACKBONE>/).
"""
import config
from prodcluster import cli, pipeline


def main(argv=None):
    parser = cli.add_network_options(cli.parser(__doc__))
    parser.add_argument("--epochs", type=int, help="training epochs (default: EPOCHS in config.py)")
    args = parser.parse_args(argv)
    history = pipeline.run_stage("02", cli.settings(config, args), force=args.force)
    if history is not None and len(history):
        epochs = history.groupby("backbone", sort=False).size() if "backbone" in history else {"": len(history)}
        print("02: trained " + ", ".join(f"{name} {count} epochs".strip() for name, count in epochs.items()))


if __name__ == "__main__":
    cli.run(main)
