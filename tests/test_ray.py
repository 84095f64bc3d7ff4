"""The Ray engine on a real local Ray (started here, shut down after): the same records as the local engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posenet_onnx.cli import main
from posenet_onnx.runtime.jobs import EstimateSettings

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
    argv = ["estimate", sources[0], "--multi", "--multiplier", "0.5", "--model-dir", str(real_model_dir), "--device", "cpu"]
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
    from posenet_onnx.runtime.ray_engine import pose_dataset

    paths = sources[1:6]
    load_kwargs = {"multiplier": 0.5, "model_dir": str(real_model_dir), "device": "cpu"}
    dataset = pose_dataset(paths, EstimateSettings(multi=True), load_kwargs, actors=1)
    assert isinstance(dataset, local_ray.data.Dataset)
    rows = dataset.take_all()
    assert [row["image"] for row in rows] == paths and all(row["error"] is None for row in rows)
    for path, row in zip(paths, rows):
        assert json.loads(row["record"])["poses"] == [pose.to_dict() for pose in net.estimate_multiple_poses(path)]
