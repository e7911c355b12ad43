"""Self-training: fine-tune again on the known models and the clearest clusters of a finished run.

Takes the data set's last run of stages 00 to 04. In each cluster, the photos that lie much
nearer its centre than any other cluster's become one pseudo-model; a second network learns the
known models and these pseudo-models together (into models/<DATASET>/self_trained), then the
features and clusters are made again with it and the scores and report refreshed. Pseudo-models
are not scored as seen models. data/<DATASET>/pseudo_models.csv lists the photos learnt from.
Features that a self-trained network made are left as they are, so a rerun changes nothing.
run_all.py --self-training does the same after stage 04.
"""
import config
from prodcluster import cli


def main(argv=None):
    parser = cli.parser(__doc__, "epochs", "batch_size", *cli.ENGINE, stages=("02", "03", "04"), skips=False)
    args = parser.parse_args(argv)
    from prodcluster import pipeline
    pipeline.self_train(cli.settings(config, args))


if __name__ == "__main__":
    cli.run(main)
