"""TensorFlow's and LiteRT's notes kept off the console unless -v.

Their C++ code writes notes ("All log messages before absl::InitializeLog() ...", oneDNN's
"custom operations are on", "Created TensorFlow Lite XNNPACK delegate", a NodeDef attribute
that this TensorFlow does not know) straight to file descriptor 2, where neither Python's
logging nor TF_CPP_MIN_LOG_LEVEL reaches them, and which of them appear depends on the
processor. While a network library loads or trains, descriptor 2 goes through a pipe whose
reader passes every line on as it comes, except such notes; progress bars keep moving.
"""
import logging
import os
import re
import sys
import threading
from contextlib import contextmanager

NOTES = re.compile(rb"(WARNING: All log messages before absl::InitializeLog\(\)"
                   rb"|I\d{4} [\d:.]+ +\d+ \S+:\d+\] "  # absl's information lines: I0000 00:00:1796.. 4343 port.cc:153]
                   rb"|E\d{4} [\d:.]+ +\d+ node_def_util\.cc:\d+\] NodeDef mentions attribute \w+ which is not in "
                   rb"the op definition"
                   rb"|INFO: Created TensorFlow Lite XNNPACK delegate)")
WAIT_FOR_READER_SECONDS = 10


def _verbose():
    return logging.getLogger().isEnabledFor(logging.DEBUG)  # -v


@contextmanager
def native_notes_hidden():
    """Pass on what native code writes to descriptor 2 while inside, less the notes; with -v (debug), all."""
    if _verbose():
        yield
        return
    sys.stderr.flush()
    console = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    reader = threading.Thread(target=_pass_on, args=(read_end, console), daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(console, 2)  # closes the pipe's last write end, so the reader comes to its end
        reader.join(WAIT_FOR_READER_SECONDS)
        os.close(console)


def _pass_on(read_end, console):
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        for chunk in iter(lambda: pipe.read(1 << 16), b""):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not NOTES.match(line))
            if b"\r" in pending:  # a progress bar redrawing its line: shown now, not when the line ends
                kept, pending = kept + pending, b""
            if kept:
                os.write(console, kept)
    if pending and not NOTES.match(pending):
        os.write(console, pending)


def import_keras():
    """Keras (and TensorFlow under it), imported without their start-up notes."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _verbose() else "2")  # read once, when TensorFlow loads
    with native_notes_hidden():
        import keras
    return keras
