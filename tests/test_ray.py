"""The Ray engine on a real local Ray (started here, shut down after): the same records as the local engine."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from posenet_onnx.cli import main
from posenet_onnx.runtime.settings import EstimateSettings
from support.cli import model_args

pytestmark = [pytest.mark.needs_ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def sources(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The 28 photos with a text file named .jpg, a truncated JPEG and a missing file mixed in (via @LIST)."""
    folder = tmp_path_factory.mktemp("sources")
    (folder / "text.jpg").write_text("not an image")
    (folder / "truncated.jpg").write_bytes((shared / "images" / "couple.jpg").read_bytes()[:2000])
    photos = sorted(str(p) for p in (shared / "photos").rglob("*.jpg"))
    paths = [*photos[:10], str(folder / "text.jpg"), *photos[10:20], str(folder / "missing.jpg")]
    paths += [str(folder / "truncated.jpg"), *photos[20:]]
    (folder / "list.txt").write_text("".join(f"{p}\n" for p in paths))
    return [f"@{folder / 'list.txt'}", *paths]


def _estimate(real_model_dir: Path, sources: list[str], *args: str) -> int:
    argv = ["estimate", sources[0], "--multi", *model_args(real_model_dir)]
    return main([*argv, *args])


def test_ray_records_equal_the_local_engine(local_ray, real_model_dir, sources, tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert _estimate(real_model_dir, sources, "--jsonl", str(local), "--parquet", str(tmp_path / "local.parquet")) == 1
    ray_args = ["--engine", "ray", "--actors", "2", "--jsonl", str(on_ray), "--parquet", str(tmp_path / "ray.parquet")]
    assert _estimate(real_model_dir, sources, *ray_args) == 1
    assert on_ray.read_bytes() == local.read_bytes()
    records = [json.loads(line) for line in local.read_text().splitlines()]
    assert [r["image"] for r in records] == sources[1:]
    assert sum("error" in r for r in records) == 3 and sum(len(r.get("poses", [])) for r in records) > 28
    assert pq.read_table(tmp_path / "ray.parquet").equals(pq.read_table(tmp_path / "local.parquet"))


def test_pose_dataset_is_a_ray_dataset_of_records(local_ray, real_model_dir, sources, net) -> None:
    from posenet_onnx.runtime.batch.ray_engine import pose_dataset

    paths = sources[1:6]
    load_kwargs = {"multiplier": 0.5, "model_dir": str(real_model_dir), "device": "cpu"}
    dataset = pose_dataset(paths, EstimateSettings(multi_pose=True), load_kwargs, actors=1)
    assert isinstance(dataset, local_ray.data.Dataset)
    rows = dataset.take_all()
    assert [row["image"] for row in rows] == paths and all(row["error"] is None for row in rows)
    for path, row in zip(paths, rows):
        assert json.loads(row["record"])["poses"] == [pose.to_dict() for pose in net.estimate_multiple_poses(path)]


def test_actor_threads_reserve_cpus_and_onnxruntime_threads(local_ray, real_model_dir, sources, monkeypatch, tmp_path) -> None:
    """--actor-threads N: each actor reserves N CPUs and loads its PoseNet with N onnxruntime threads."""
    calls: list[dict] = []
    map_batches = local_ray.data.Dataset.map_batches

    def recording(self, fn, **kwargs):
        calls.append(kwargs)
        return map_batches(self, fn, **kwargs)

    monkeypatch.setattr(local_ray.data.Dataset, "map_batches", recording)
    out = tmp_path / "ray.jsonl"
    photos = _photo_list(sources, 4, tmp_path)
    assert _estimate(real_model_dir, photos, "--engine", "ray", "--actors", "1", "--actor-threads", "2",
                     "--jsonl", str(out)) == 0
    assert [json.loads(line)["image"] for line in out.read_text().splitlines()] == photos[1:]
    assert len(calls) == 1 and calls[0]["num_cpus"] == 2
    assert calls[0]["fn_constructor_kwargs"]["load_kwargs"]["intra_op_threads"] == 2


def _photo_list(sources: list[str], count: int, folder: Path) -> list[str]:
    """[@LIST, *photos]: the first `count` readable photos of the sources and a list file naming them."""
    photos = [p for p in sources[1:] if p.endswith(".jpg") and Path(p).is_file()][:count]
    listing = folder / "photos.txt"
    listing.write_text("".join(f"{p}\n" for p in photos))
    return [f"@{listing}", *photos]


def _session_pids(session: int) -> list[int]:
    """The processes of a session (a Ray head and everything it started, workers included)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session:
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A separate Ray cluster, as `ray start --head` makes one (token authentication on), in its own session
    and temp folder; every process of it is killed afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp = tmp_path_factory.mktemp("ray-cluster")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2", "--object-store-memory=200000000",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(temp.glob("session_latest/logs/raylet.out")):
            assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(0.5)
        time.sleep(2)  # the raylet registers with the GCS
        yield {"address": f"127.0.0.1:{port}", "env": env, "logs": temp / "session_latest" / "logs"}
    finally:
        for pid in _session_pids(head.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        head.wait(timeout=60)


def _cli(real_model_dir: Path, env: dict, *args: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "posenet_onnx.cli", "estimate", *args, "--multi",
            *model_args(real_model_dir)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ray_address_runs_the_job_on_that_cluster(ray_cluster, real_model_dir, sources, tmp_path) -> None:
    """--ray-address: the job runs on the given cluster (its driver log is in that cluster's session) and its
    records equal the local engine's; a cluster that refuses the connection or is not there is one line."""
    photos = _photo_list(sources, 6, tmp_path)
    local, on_cluster = tmp_path / "local.jsonl", tmp_path / "cluster.jsonl"
    assert _estimate(real_model_dir, photos, "--jsonl", str(local)) == 0
    job = _cli(real_model_dir, ray_cluster["env"], photos[0], "--engine", "ray", "--ray-address", ray_cluster["address"],
               "--actors", "1", "--jsonl", str(on_cluster))
    _, err = job.communicate(timeout=300)
    assert job.returncode == 0, err
    assert on_cluster.read_bytes() == local.read_bytes()
    assert list(ray_cluster["logs"].glob(f"python-core-driver-*_{job.pid}.log"))

    without_token = {k: v for k, v in ray_cluster["env"].items() if not k.startswith("RAY_AUTH")}
    refused = tmp_path / "refused.jsonl"
    job = _cli(real_model_dir, without_token, photos[1], "--engine", "ray", "--ray-address", ray_cluster["address"],
               "--jsonl", str(refused))
    _, err = job.communicate(timeout=300)
    assert job.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("posenet-onnx estimate: error: cannot connect to the Ray cluster at") and "RAY_AUTH_MODE=token" in last
    assert not refused.exists()  # nothing is opened before the connection

    with socket.socket() as probe:  # a port nothing listens at
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    started = time.monotonic()
    job = _cli(real_model_dir, ray_cluster["env"], photos[1], "--engine", "ray", "--ray-address", f"127.0.0.1:{free}")
    _, err = job.communicate(timeout=120)
    assert job.returncode == 2 and time.monotonic() - started < 60  # Ray itself would retry for minutes
    assert err.startswith(f"posenet-onnx estimate: error: nothing answers at the Ray address 127.0.0.1:{free}")
    assert err.count("\n") == 1
