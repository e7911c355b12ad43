"""Stage 03: one feature vector per photo of img/<DATASET>, in image-list order.

Uses the fine-tuned network of stage 02 when it exists, else the plain pretrained backbone.
Writes data/<DATASET>/features.npy (float32, N x D), feature_files.txt and features.json.
"""
import config
from prodcluster import cli, pipeline
from prodcluster.settings import FEATURE_LAYERS, RUNTIMES


def main(argv=None):
    parser = cli.add_engine_options(cli.add_network_options(cli.parser(__doc__)))
    parser.add_argument("--feature-layer", choices=FEATURE_LAYERS,
                        help="layer of the fine-tuned network to read (default: FEATURE_LAYER in config.py)")
    parser.add_argument("--finetuned-from", help="use the network fine-tuned on this other data set")
    parser.add_argument("--runtime", choices=RUNTIMES, help="what runs the network (default: RUNTIME in config.py)")
    parser.add_argument("--test-time-flip", action="store_true", default=None,
                        help="average each photo's vector with its mirror image's (default: TEST_TIME_FLIP in config.py)")
    args = parser.parse_args(argv)
    info = pipeline.run_stage("03", cli.settings(config, args), force=args.force)
    if info is not None:
        print(f"03: {info['n_images']} x {info['dim']} features from the {info['source']} {info['backbone']}")


if __name__ == "__main__":
    cli.run(main)
