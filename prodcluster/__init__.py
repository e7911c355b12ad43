"""Group unlabelled product photos by product model and predict how many models there are."""
__version__ = "0.1.0"
