"""Run every stage in order, from labels to pictures, and print the scores.

On the default "demo" data set the photos are generated first when raw_img/demo is missing,
so this runs offline on a fresh clone.
"""
import config
from prodcluster import cli, pipeline


def main(argv=None):
    parser = cli.add_engine_options(cli.add_network_options(cli.parser(__doc__)))
    parser.add_argument("--skip-finetune", dest="use_finetuned", action="store_false", default=None,
                        help="use the plain pretrained backbone (default: USE_FINETUNED in config.py)")
    parser.add_argument("--epochs", type=int, help="fine-tuning epochs (default: EPOCHS in config.py)")
    parser.add_argument("--preprocess", help="background removal method (default: PREPROCESS in config.py)")
    parser.add_argument("--cluster-method", help="clustering method (default: CLUSTER_METHOD in config.py)")
    args = parser.parse_args(argv)
    pipeline.run_all(cli.settings(config, args), force=args.force)


if __name__ == "__main__":
    cli.run(main)
