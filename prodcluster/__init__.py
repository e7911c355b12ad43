"""Group unlabelled product photos by product model and predict how many models there are."""
import os

# TensorFlow's start-up chatter (oneDNN notes, CPU feature lists) hides the pipeline's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
