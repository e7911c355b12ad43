"""Native libraries' notes on descriptor 2 are held back without -v; every other line passes, bars at once."""
import subprocess
import sys

NOTES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796413653.163872    4343 port.cc:153] oneDNN custom operations are on. You may see slightly",
    "E0000 00:00:1796417024.387532   29082 node_def_util.cc:682] NodeDef mentions attribute "
    "use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset>",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
]
WRITER = """
import logging, os, sys, time
from prodcluster.quiet import native_notes_hidden
logging.basicConfig(level=logging.DEBUG if "-v" in sys.argv else logging.INFO)
with native_notes_hidden():
    os.write(2, b"\\r02 head:  50%")
    time.sleep(0.5)
    print("bar shown before its line ended:", b"50%" in open(f"/proc/{os.getpid()}/fd/1", "rb").read()
          if False else "", file=sys.stdout)
    for line in sys.argv[1].split("|"):
        os.write(2, (line + "\\n").encode())
    os.write(2, b"E0000 00:00:1.5 12 other.cc:1] a real error\\n")
print("after", file=sys.stderr)
"""


def run(*flags):
    return subprocess.run([sys.executable, "-c", WRITER, "|".join(NOTES), *flags], capture_output=True, timeout=60,
                          check=True).stderr.decode()  # as bytes: text mode would turn the bar's \r into \n


def test_notes_are_held_back_and_the_rest_passes_in_order():
    assert run() == "\r02 head:  50%E0000 00:00:1.5 12 other.cc:1] a real error\nafter\n"


def test_with_v_every_note_shows():
    shown = run("-v")
    assert all(note in shown for note in NOTES)
