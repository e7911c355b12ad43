"""ENGINE = "ray" gives the outputs of the local engine: on a private Ray, and on two Ray nodes on loopback.

Every Ray run is a script in its own process (one process cannot join two Ray clusters), so
this file runs in the test command beside the others.
"""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pytest

from prodcluster import engine
from prodcluster.demo import make_demo
from prodcluster.settings import Settings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = "64"  # network input size: small and fast


# Every process of the two-node cluster and its drivers share one token, as the README asks of a cluster.
CLUSTER_AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def run_script(root, script, *args, timeout=600):
    env = {**os.environ, "PRODCLUSTER_WORK_DIR": str(root), "TF_CPP_MIN_LOG_LEVEL": "3", **CLUSTER_AUTH}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, script, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """A tiny demo set with one broken photo, through stages 00, 01 (GrabCut) and 03 on the local engine."""
    root = tmp_path_factory.mktemp("engines")
    raw = root / "raw_img" / "demo"
    make_demo(raw, n_models=4, photos_per_model=3, seed=2)
    (raw / "M999_P1_1.jpg").write_bytes(b"not a photo")
    run_script(root, "00_make_labels_true.py")
    run_script(root, "01_img_preprocess.py", "--preprocess", "grabcut", "--workers", "2")
    run_script(root, "03_extract_features.py", "--image-size", SIZE)
    kept = root / "local"
    shutil.copytree(root / "img" / "demo", kept / "img")
    for name in ("features.npy", "feature_files.txt", "rejected.csv"):
        shutil.copy(root / "data" / "demo" / name, kept / name)
    return root


def check_ray_matches_local(root, *ray_args):
    """Stages 01 and 03 again on Ray; return their printed output after checking the outputs equal the local."""
    printed = run_script(root, "01_img_preprocess.py", "--preprocess", "grabcut", "--force", "--engine", "ray",
                         *ray_args)
    printed += run_script(root, "03_extract_features.py", "--image-size", SIZE, "--batch-size", "4", "--force",
                          "--engine", "ray", *ray_args)  # three batches, so two network copies both get work
    kept, data = root / "local", root / "data" / "demo"
    local_photos = sorted(path.name for path in (kept / "img").iterdir())
    assert sorted(path.name for path in (root / "img" / "demo").iterdir()) == local_photos
    for name in local_photos:
        assert (root / "img" / "demo" / name).read_bytes() == (kept / "img" / name).read_bytes(), name
    assert (data / "feature_files.txt").read_text() == (kept / "feature_files.txt").read_text()
    ray_features, local_features = np.load(data / "features.npy"), np.load(kept / "features.npy")
    assert ray_features.shape == local_features.shape == (12, 1280)
    assert np.abs(ray_features - local_features).max() <= 1e-5
    rejected = pd.read_csv(data / "rejected.csv", keep_default_na=False)
    assert rejected.equals(pd.read_csv(kept / "rejected.csv", keep_default_na=False))
    assert set(rejected["file"]) == {"M999_P1_1.jpg"}  # the broken photo is accounted for, not lost
    return printed


@pytest.mark.slow
def test_private_ray_gives_the_local_engines_outputs(local_run):
    printed = check_ray_matches_local(local_run, "--workers", "2")
    assert "ray: a private cluster, 1 node(s), 2 CPUs" in printed
    assert printed.count("the work ran on 1 Ray node(s)") == 2


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray_start(*args):
    # --block keeps `ray start` in the foreground; ending it stops the node's processes, and only them.
    command = [os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--block", "--num-cpus", "1",
               "--disable-usage-stats", *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **CLUSTER_AUTH})


def _wait_for_nodes(address, count, timeout=120):
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = subprocess.run([ray, "status", "--address", address], capture_output=True, text=True, timeout=60,
                                env={**os.environ, **CLUSTER_AUTH})
        if status.stdout.count(" node_") >= count:
            return
        time.sleep(2)
    raise AssertionError(f"the Ray cluster at {address} did not show {count} nodes in {timeout} s")


@pytest.fixture(scope="module")
def two_nodes():
    """A Ray head and one worker node on loopback, one CPU each, started as a user would with `ray start`."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    nodes = [_ray_start("--head", "--port", str(port), "--temp-dir", temp_dir, "--include-dashboard", "false")]
    try:
        _wait_for_nodes(address, 1)
        nodes.append(_ray_start("--address", address))
        _wait_for_nodes(address, 2)
        yield address
    finally:
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)
        for node in reversed(nodes):
            node.wait(timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_two_ray_nodes_share_the_work_and_give_the_local_engines_outputs(local_run, two_nodes):
    printed = check_ray_matches_local(local_run, "--ray-address", two_nodes)
    assert f"ray: the cluster at {two_nodes}, 2 node(s), 2 CPUs" in printed
    assert printed.count("the work ran on 2 Ray node(s)") == 2  # stage 01's tasks and stage 03's actors


@pytest.mark.slow
def test_a_network_copy_larger_than_any_node_stops_before_any_work(local_run, two_nodes):
    code = f"""
from pathlib import Path
from prodcluster import engine
from prodcluster.settings import Settings
settings = Settings(root=Path({str(local_run)!r}), engine="ray", ray_address={two_nodes!r}, ray_cpus_per_actor=2)
with engine.opened(settings) as runner:
    runner.pool_size()
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **CLUSTER_AUTH})
    assert done.returncode != 0
    assert "RAY_CPUS_PER_ACTOR = 2" in done.stderr and "at most 1 on one node" in done.stderr


def test_an_unknown_engine_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="ENGINE is 'spark': 'spark' is not valid; it must be one of local, ray"):
        Settings(engine="spark").validate()


def test_an_address_nobody_answers_on_stops_at_once_with_what_to_do(tmp_path):
    settings = Settings(root=tmp_path, engine="ray", ray_address=f"127.0.0.1:{_free_port()}")
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="no Ray cluster answers at RAY_ADDRESS"):
        with engine.opened(settings):
            pass
    assert time.monotonic() - start < 30


def test_the_driver_side_of_stage_03_loads_no_tensorflow():
    code = ("import sys; from prodcluster import engine, features, stages\n"
            "print(sorted(name for name in ('tensorflow', 'keras') if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
