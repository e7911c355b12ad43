"""Where the per-photo work of stages 01 and 03 runs: on this machine ("local") or on a Ray cluster ("ray").

Both engines call the same per-photo functions: stage 01's `process_chunk` of preprocess.py,
stage 03's `load_for_network` and `photo_vectors`. On Ray, Ray Data spreads them: stage 01's
chunks of photos are tasks; stage 03's batches go to a pool of actors, each holding one copy
of the network and decoding its own photos (no CPU is left to separate reading tasks that
Ray could otherwise starve). The driver (the process running the script) keeps what
makes a run safe to resume: the image list, rejected.csv, the freshness stamps and the atomic
writes of every output file. Every node must see WORK_DIR at the same path: tasks read the
photos and write stage 01's photos there. Ray is imported only when ENGINE is "ray".
"""
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from .batches import load_batch

log = logging.getLogger(__name__)
PACKAGE = Path(__file__).resolve().parent
ACTOR_START_SECONDS = 600
REACH_SECONDS = 10


@contextmanager
def opened(settings):
    """The engine of `settings.engine`, ready to run work; a Ray cluster started here is stopped after."""
    if settings.engine == "local":
        yield LocalEngine(settings)
        return
    import ray
    started_here = not ray.is_initialized()
    if started_here:
        start = time.perf_counter()
        _connect(ray, settings)
        where = f"the cluster at {settings.ray_address}" if settings.ray_address else "a private cluster"
        print(f"ray: {where}, {len(_alive_nodes(ray))} node(s), {int(_cpus(ray))} CPUs "
              f"(ready in {time.perf_counter() - start:.1f} s)")
    try:
        if _cpus(ray) < 1:
            raise ValueError(f"the Ray cluster at {settings.ray_address} has no CPU to run tasks on: start a worker "
                             "node with `ray start --address ...`, or a head without --num-cpus 0")
        yield RayEngine(ray, settings)
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray, settings):
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver shows one bar per stage
    # Every network copy is up before the first batch, so each gets work; one the cluster cannot place
    # raises after this long instead of leaving the stage waiting without a word.
    context.wait_for_min_actors_s = ACTOR_START_SECONDS
    # Ray's notes on every start and execution only with -v; its errors still raise.
    level = logging.INFO if logging.getLogger().isEnabledFor(logging.DEBUG) else logging.ERROR
    logging.getLogger("ray.data").setLevel(level)
    runtime_env = {"py_modules": [str(PACKAGE)],
                   "env_vars": {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}}
    options = {"runtime_env": runtime_env, "log_to_driver": False, "logging_level": level}
    if settings.ray_address:
        _check_reachable(settings.ray_address)
        ray.init(address=settings.ray_address, **options)
    else:  # "local" starts a new cluster even where RAY_ADDRESS names another one
        ray.init(address="local", num_cpus=settings.cpus, include_dashboard=False,
                 **options)


def _check_reachable(address):
    """Fail fast on a "host:port" nobody listens on: Ray would retry for minutes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # another form Ray accepts ("auto", "ray://..."): Ray checks it
    try:
        socket.create_connection((host, int(port)), timeout=REACH_SECONDS).close()
    except OSError as error:
        raise RuntimeError(f"no Ray cluster answers at RAY_ADDRESS = {address!r} ({error}): start its head with "
                           "`ray start --head --port PORT`, or leave RAY_ADDRESS unset for a private Ray") from None


def _alive_nodes(ray):
    return [node for node in ray.nodes() if node["Alive"]]


def _cpus(ray):
    return ray.cluster_resources().get("CPU", 0.0)


def map_in_processes(function, chunks, workers):
    """Yield function(chunk) for each chunk, on `workers` processes of this machine (1: in this process)."""
    if workers == 1 or len(chunks) <= 1:
        yield from map(function, chunks)
        return
    # "spawn" rather than fork: the caller may hold threads (OpenCV, TensorFlow) that fork copies badly.
    context = multiprocessing.get_context("spawn")
    processes = min(workers, len(chunks))
    with ProcessPoolExecutor(processes, mp_context=context, initializer=one_opencv_thread) as pool:
        with _ctrl_c_ignored():  # by the workers, from their start: Ctrl-C reaches the whole group, the driver answers
            # every worker starts here, before any work: no photo is done while the driver ignores Ctrl-C too
            list(pool.map(_started, range(processes)))
        results = pool.map(function, chunks)
        try:
            yield from results
        except BaseException:  # Ctrl-C or an error: the chunks not yet started are dropped, not waited for
            pool.shutdown(cancel_futures=True)
            raise


def _started(_):
    """Nothing: a worker that returns it has started."""


@contextmanager
def _ctrl_c_ignored():
    """SIGINT ignored while inside (processes started then inherit that); only the main thread can set it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def one_opencv_thread():
    cv2.setNumThreads(1)  # the processes already use every core


class LocalEngine:
    """This machine: stage 01 on a process pool, stage 03's network in this process."""

    def __init__(self, settings):
        self.cpus = settings.cpus
        self.runtime = None
        self.networks = {}  # by backbone: stage 03 reads its photos and the calibration photos with one network

    def map_chunks(self, function, chunks):
        return map_in_processes(function, chunks, self.cpus)

    def photo_vectors(self, paths, settings):
        from . import features
        if settings.backbone not in self.networks:
            self.networks[settings.backbone] = features.feature_network(settings)
        network, self.runtime = self.networks[settings.backbone]
        return features.vectors_here(network, paths, settings)

    def summary(self, stage):
        return None


class RayEngine:
    """A Ray cluster, joined or started by `opened`; remembers which nodes did the work."""

    def __init__(self, ray, settings):
        self.ray = ray
        self.settings = settings
        self.cpus = int(_cpus(ray))
        self.nodes = set()
        self.runtime = None

    def map_chunks(self, function, chunks):
        """Yield function(chunk)'s results per Ray Data batch, one task per chunk, in the order they finish."""
        items = [{"names": list(chunk)} for chunk in chunks]
        if not items:
            return
        dataset = self.ray.data.from_items(items, override_num_blocks=len(items)).flat_map(
            _chunk_rows, fn_kwargs={"function": function}, num_cpus=1)
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            self.nodes.update(batch["node"])
            yield [(name, outcome or None, reason or None)
                   for name, outcome, reason in zip(batch["file"], batch["outcome"], batch["reason"])]

    def photo_vectors(self, paths, settings):
        """Yield (rows, vectors, [(row, reason)]) from a pool of actors, each decoding photos for its network."""
        actors = self.pool_size()
        if not paths:
            return
        items = [{"row": row, "path": str(path)} for row, path in enumerate(paths)]
        blocks = max(1, min(len(items) // settings.batch_size, 4 * self.cpus))
        dataset = self.ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            _Embedder, fn_constructor_kwargs={"settings": settings}, batch_size=settings.batch_size,
            num_cpus=settings.ray_cpus_per_actor, compute=self.ray.data.ActorPoolStrategy(size=actors))
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            self.nodes.update(batch["node"])
            self.runtime = str(batch["runtime"][0])
            read = batch["error"] == ""
            yield (batch["row"][read], batch["vector"][read],
                   [(int(row), str(reason)) for row, reason in zip(batch["row"][~read], batch["error"][~read])])

    def pool_size(self):
        """How many network actors stage 03 starts, checked against the cluster's CPUs before any work."""
        settings = self.settings
        per_actor = settings.ray_cpus_per_actor
        actors = settings.ray_actors or max(1, self.cpus // per_actor)
        largest_node = max(node["Resources"].get("CPU", 0.0) for node in _alive_nodes(self.ray))
        if actors * per_actor > self.cpus or per_actor > largest_node:
            raise ValueError(
                f"RAY_ACTORS = {actors} network copies x RAY_CPUS_PER_ACTOR = {per_actor} need {actors * per_actor} "
                f"CPUs, {per_actor} of them on one node; the Ray cluster has {self.cpus} CPUs, at most "
                f"{largest_node:g} on one node: lower RAY_ACTORS or RAY_CPUS_PER_ACTOR, or add nodes (Ray would "
                "otherwise wait for them without a word)")
        return actors

    def summary(self, stage):
        return f"{stage}: the work ran on {len(self.nodes)} Ray node(s)"


def _chunk_rows(item, function):
    """Stage 01 on a Ray worker: one output row per photo of the chunk."""
    import ray
    one_opencv_thread()
    node = ray.get_runtime_context().get_node_id()
    return [{"file": name, "outcome": outcome or "", "reason": reason or "", "node": node}
            for name, outcome, reason in function(list(item["names"]))]


class _Embedder:
    """One copy of stage 03's network in a Ray actor: decodes each batch's photos, then runs the network on the
    CPUs the actor was given."""

    def __init__(self, settings):
        import ray

        from .quiet import import_keras
        import_keras()
        import tensorflow as tf

        from . import features
        self.settings = settings
        tf.config.threading.set_intra_op_parallelism_threads(settings.ray_cpus_per_actor)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        self.network, self.runtime = features.feature_network(settings, threads=settings.ray_cpus_per_actor)
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch):
        from .features import photo_vectors
        count = len(batch["path"])
        rows, images, errors = load_batch(batch["path"], 0, count, self.settings.input_size,
                                          self.settings.max_image_pixels)
        vectors = np.zeros((count, self.network.output_shape[-1]), np.float32)
        if len(rows):
            vectors[rows] = photo_vectors(self.network, images, self.settings.test_time_flip)
        reasons = np.full(count, "", dtype=object)
        for row, error in errors:
            reasons[row] = error.reason
        return {"row": batch["row"], "vector": vectors, "error": reasons,
                "node": np.full(count, self.node, dtype=object), "runtime": np.full(count, self.runtime, dtype=object)}
