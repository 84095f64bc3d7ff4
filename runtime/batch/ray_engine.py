"""The folder job on Ray Data, for clusters: the same records as the local engine, from a pool of actors.

The paths become a Ray Dataset; `map_batches` runs `PoseEstimator`, a callable class whose actors each own
one PoseNet (loaded once per actor, `num_gpus=1` each when CUDA is used) and turn a batch of paths into
records with the local engine's own code. Every worker reads the images and the graphs itself: both must be
at the same paths on every node (shared storage), or the graphs exportable there. Ray is imported only here.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from posenet_onnx.outputs import json_text
from posenet_onnx.runtime.batch.jobs import DEFAULT_BATCH_SIZE, estimate_window, read
from posenet_onnx.runtime.batch.records import Record
from posenet_onnx.runtime.settings import EstimateSettings

DEFAULT_ACTORS = 2
DEFAULT_ACTOR_THREADS = 1  # onnxruntime threads (and reserved CPUs) per actor
REACH_TIMEOUT_S = 10  # for the TCP check of a cluster address


def import_ray() -> Any:
    """Ray, imported on first use; a clear message when the `[ray]` extra is missing."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RuntimeError('the Ray engine needs Ray Data: pip install "posenet-onnx[ray]"') from None
    return ray


class PoseEstimator:
    """The `map_batches` callable: one PoseNet per actor; a batch of paths in, their records out.

    Output columns: `image` (the path as given), `error` (None, or why the image failed) and `record` (the
    JSON record, exactly the line the local engine writes without its newline).
    """

    def __init__(self, load_kwargs: dict[str, Any], settings: EstimateSettings) -> None:
        from posenet_onnx.runtime.posenet import load

        self.net = load(**load_kwargs)
        self.settings = settings

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        window = [read(str(image), str(path)) for image, path in zip(batch["image"], batch["path"])]
        records = [result.record for result in estimate_window(self.net, self.settings, window)]
        return {
            "image": [record["image"] for record in records],
            "error": [record.get("error") for record in records],
            "record": [json_text(record) for record in records],
        }


def pose_dataset(
    paths: Sequence[str],
    settings: EstimateSettings,
    load_kwargs: dict[str, Any],
    *,
    actors: int = DEFAULT_ACTORS,
    threads_per_actor: int = DEFAULT_ACTOR_THREADS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    gpus_per_actor: float = 0,
) -> Any:
    """The Ray Dataset of records (columns image, error, record; in input order) for the image `paths`.

    `load_kwargs` go to `posenet_onnx.load` in each actor (with `intra_op_threads=threads_per_actor` unless
    given); each actor reserves `threads_per_actor` CPUs and `gpus_per_actor` GPUs. Ray starts a local
    instance if none is connected (`ray.init(address=...)` first for a cluster). Nothing runs until the
    dataset is consumed (`iter_rows`, `write_parquet`, ...).
    """
    ray = import_ray()
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    items = [{"image": path, "path": os.path.abspath(path)} for path in paths]
    return ray.data.from_items(items).map_batches(
        PoseEstimator,
        fn_constructor_kwargs={"load_kwargs": {"intra_op_threads": threads_per_actor, **load_kwargs}, "settings": settings},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=threads_per_actor,
        num_gpus=gpus_per_actor or None,
    )


def ray_records(
    paths: Sequence[str],
    settings: EstimateSettings,
    load_kwargs: dict[str, Any],
    *,
    address: str | None = None,
    actors: int = DEFAULT_ACTORS,
    threads_per_actor: int = DEFAULT_ACTOR_THREADS,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[Record]:
    """The records of `paths` computed on Ray, streamed to this process in input order.

    Connects at once (so that a bad address fails before any output is opened) to `address` (else
    $RAY_ADDRESS, else a new local instance) unless Ray is already connected, and disconnects after the
    records only from what it connected to itself. Actors get one GPU each with device "cuda", or with
    "auto" when the cluster has GPUs.
    """
    ray = import_ray()
    connected_here = not ray.is_initialized()
    if connected_here:
        connect(ray, address or os.environ.get("RAY_ADDRESS"))
    return _streamed(ray, connected_here, paths, settings, load_kwargs, actors, threads_per_actor, batch_size)


def connect(ray: Any, address: str | None) -> None:
    """ray.init for a job: the cluster at `address`, or a new local instance when None.

    An address nothing answers at is refused within seconds (Ray itself retries for minutes), and a refused
    connection names the usual cause: Ray clusters use token authentication unless started without it.
    """
    if address is not None:
        check_reachable(address)
    try:
        ray.init(address=address, logging_level="ERROR", include_dashboard=False, log_to_driver=False)
    except ConnectionError as exc:
        hint = "" if os.environ.get("RAY_AUTH_MODE", "").lower() == "token" else (
            "; a cluster with token authentication (the default of `ray start`) needs RAY_AUTH_MODE=token and "
            "its token (`ray get-auth-token` on the head node) in RAY_AUTH_TOKEN or ~/.ray/auth_token here"
        )
        raise RuntimeError(f"cannot connect to the Ray cluster at {address} ({exc}){hint}") from None


def check_reachable(address: str) -> None:
    """Refuse a HOST:PORT (or ray://HOST:PORT) address whose port takes no TCP connection; other forms
    ("auto", "local") are Ray's to resolve."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not colon or not port.isdigit():
        return
    if not host or not 0 < int(port) < 65536:
        raise RuntimeError(f"the Ray address {address} is not HOST:PORT with a port in 1..65535")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RuntimeError(
            f"nothing answers at the Ray address {address} ({reason}): start the cluster there "
            "(`ray start --head`) or give its head node's HOST:PORT (the address, or RAY_ADDRESS)"
        ) from None


def _streamed(
    ray: Any,
    connected_here: bool,
    paths: Sequence[str],
    settings: EstimateSettings,
    load_kwargs: dict[str, Any],
    actors: int,
    threads_per_actor: int,
    batch_size: int,
) -> Iterator[Record]:
    """The records from the connected Ray, in input order; disconnects afterwards if `connected_here`."""
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its per-run INFO lines would break the progress bar
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        device = load_kwargs.get("device", "auto")
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        gpus = 1 if device == "cuda" or (device == "auto" and has_gpus) else 0
        dataset = pose_dataset(
            paths, settings, load_kwargs, actors=actors, threads_per_actor=threads_per_actor,
            batch_size=batch_size, gpus_per_actor=gpus,
        )
        try:
            for row in dataset.iter_rows():
                yield json.loads(row["record"])
        except ray.exceptions.RayError as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            raise RuntimeError(f"the Ray job failed: {lines[-1] if lines else type(exc).__name__}") from None
    finally:
        if connected_here:
            ray.shutdown()
