"""TensorFlow's and LiteRT's start-up notes kept off the console unless -v.

Their C++ code writes notes ("All log messages before absl::InitializeLog() ...", oneDNN's
"custom operations are on", "Created TensorFlow Lite XNNPACK delegate") straight to file
descriptor 2, where neither Python's logging nor TF_CPP_MIN_LOG_LEVEL reaches them, and
which of them appear depends on the processor. While a network library loads, descriptor 2
goes to a temporary file; afterwards every line that is not such a note is passed on.
"""
import logging
import os
import re
import sys
import tempfile
from contextlib import contextmanager

NOTES = re.compile(r"(WARNING: All log messages before absl::InitializeLog\(\)"
                   r"|I\d{4} [\d:.]+ +\d+ \S+:\d+\] "  # absl's own lines: I0000 00:00:1796.. 4343 port.cc:153]
                   r"|INFO: Created TensorFlow Lite XNNPACK delegate)")


def _verbose():
    return logging.getLogger().isEnabledFor(logging.DEBUG)  # -v


@contextmanager
def native_notes_hidden():
    """Hide the notes that native code writes to descriptor 2 while inside; with -v (debug logging), show all."""
    if _verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not NOTES.match(line)]
            sys.stderr.write("".join(kept))


def import_keras():
    """Keras (and TensorFlow under it), imported without their start-up notes."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _verbose() else "2")  # read once, when TensorFlow loads
    with native_notes_hidden():
        import keras
    return keras
