"""Folder jobs: sources, the streamed JSONL/Parquet records, failed images, --on-error, --resume and a killed job."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from posenet_onnx.cli import main
from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.runtime.batch.jobs import estimate_paths
from posenet_onnx.runtime.batch.sources import expand_sources
from posenet_onnx.runtime.settings import EstimateSettings
from support.cli import model_args


@pytest.fixture(scope="module")
def photos(shared: Path) -> list[str]:
    """The 28 real photos, found by walking the folder here (not by the code under test)."""
    found = sorted(str(p) for p in (shared / "photos").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert len(found) == 28
    return found


@pytest.fixture(scope="module")
def broken(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A text file named .jpg, a truncated JPEG and a missing file."""
    folder = tmp_path_factory.mktemp("broken")
    (folder / "text.jpg").write_text("not an image")
    (folder / "truncated.jpg").write_bytes((shared / "images" / "couple.jpg").read_bytes()[:2000])
    return [str(folder / "text.jpg"), str(folder / "truncated.jpg"), str(folder / "missing.jpg")]


@pytest.fixture(scope="module")
def expected(net, photos: list[str]) -> dict[str, dict]:
    """Each photo's record built from the public API, one image at a time."""
    records = {}
    for path in photos:
        with Image.open(path) as image:
            width, height = image.size
        poses = [pose.to_dict() for pose in net.estimate_multiple_poses(path)]
        records[path] = {"image": path, "width": width, "height": height, "poses": poses}
    return records


def _run(real_model_dir: Path, *args: str) -> int:
    return main(["estimate", *args, "--multi", *model_args(real_model_dir)])


def _lines(path: Path) -> list[dict]:
    """The records of a JSONL file; the first one's `settings` (the job's, checked in test_jobs_hostile) left out."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    if records:
        assert "settings" in records[0] and not any("settings" in record for record in records[1:])
        del records[0]["settings"]
    return records


def test_sources_expand_files_folders_patterns_and_lists(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.PNG", "notes.txt", "sub/c.jpeg", "sub/deeper/d.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    folder = str(tmp_path)
    assert expand_sources([folder]) == [f"{folder}/a.jpg", f"{folder}/b.PNG"]
    every = [f"{folder}/a.jpg", f"{folder}/b.PNG", f"{folder}/sub/c.jpeg", f"{folder}/sub/deeper/d.png"]
    assert expand_sources([folder], recursive=True) == every
    assert expand_sources([f"{folder}/**/*.png"], recursive=True) == [f"{folder}/sub/deeper/d.png"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder}/sub/c.jpeg\n\nnot-there.jpg\n{folder}/a.jpg\n")
    # List entries are kept as written (a missing one becomes an error record); each path appears once.
    assert expand_sources([f"@{listing}", folder]) == [f"{folder}/sub/c.jpeg", "not-there.jpg", f"{folder}/a.jpg", f"{folder}/b.PNG"]
    assert expand_sources([f"{folder}/notes.txt"]) == [f"{folder}/notes.txt"]  # a named file is read, whatever its name
    with pytest.raises(FileNotFoundError, match="image file not found"):
        expand_sources([f"{folder}/nope.jpg"])
    with pytest.raises(FileNotFoundError, match="no list file"):
        expand_sources([f"@{folder}/nope.txt"])
    (tmp_path / "nested" / "inner").mkdir(parents=True)
    (tmp_path / "nested" / "inner" / "e.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="its subfolders are read only when recursive"):
        expand_sources([f"{folder}/nested"])
    with pytest.raises(ValueError, match="matches no image"):
        expand_sources([f"{folder}/*.gif"])


def test_list_files_may_carry_a_bom_be_pipes_and_are_refused_when_not_text(tmp_path: Path) -> None:
    images = [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    listing = tmp_path / "windows.txt"
    listing.write_bytes(b"\xef\xbb\xbf" + "".join(f"{p}\r\n" for p in images).encode())  # as Notepad saves UTF-8
    assert expand_sources([f"@{listing}"]) == images
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(f"{images[1]}\n"))  # @<(find ...) is a pipe
    writer.start()
    assert expand_sources([f"@{fifo}"]) == images[1:]
    writer.join()
    (tmp_path / "latin1.txt").write_bytes("caf\xe9.jpg\n".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        expand_sources([f"@{tmp_path / 'latin1.txt'}"])
    with pytest.raises(ValueError, match="is a folder"):
        expand_sources([f"@{tmp_path}"])


@pytest.mark.parametrize("option", ["--jsonl", "--json", "--parquet"])
def test_no_output_replaces_the_list_file_or_the_model_graph(capsys, real_model_dir, photos, tmp_path, option) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photos[0]}\n")
    graph = tmp_path / "graph.onnx"
    shutil.copyfile(real_model_dir / "mobilenet_v1_050_stride16.onnx", graph)
    before = {path: path.read_bytes() for path in (listing, graph)}
    for target in before:
        argv = ["estimate", f"@{listing}", "--model", str(graph), option, str(target), "--device", "cpu"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"is the input {target}" in err and err.count("\n") == 1
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.onnx", "list.txt"]


def test_jsonl_records_equal_the_api_and_failures_do_not_stop_the_job(
    capsys, real_model_dir, photos, broken, expected, tmp_path
) -> None:
    out = tmp_path / "poses.jsonl"
    sources = [photos[0], *broken, *photos[1:]]
    listing = tmp_path / "list.txt"  # a missing file named on the command line is a bad input; in a list, a failed image
    listing.write_text("".join(f"{path}\n" for path in sources[1:]))
    assert _run(real_model_dir, sources[0], f"@{listing}", "--jsonl", str(out)) == 1
    records = _lines(out)
    assert [r["image"] for r in records] == sources  # one line per image, in input order
    assert [r for r in records if "poses" in r] == [expected[p] for p in photos]
    failed = {r["image"]: r["error"] for r in records if "error" in r}
    assert list(failed) == broken and all(isinstance(e, str) and e for e in failed.values())
    assert "image file not found" in failed[broken[2]]
    assert "3 of 31 images failed" in capsys.readouterr().err


def test_on_error_fail_stops_at_the_first_failed_image(capsys, real_model_dir, photos, broken, tmp_path) -> None:
    out = tmp_path / "poses.jsonl"
    assert _run(real_model_dir, *photos[:3], broken[0], *photos[3:6], "--jsonl", str(out), "--on-error", "fail") == 1
    records = _lines(out)
    assert [r["image"] for r in records][:4] == [*photos[:3], broken[0]] and "error" in records[3]
    assert len(records) < 8  # stopped: at most the batch in flight went on
    assert f"stopped at {broken[0]}" in capsys.readouterr().err


def test_same_size_images_are_batched_with_the_api_results(net, photos, expected, tmp_path) -> None:
    """Copies of one photo and a mirrored copy share a size: they go through the network together."""
    with Image.open(photos[0]) as image:
        for i in range(3):
            image.save(tmp_path / f"same{i}.png")
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "mirrored.png")
    paths = [str(tmp_path / f"same{i}.png") for i in range(3)] + [str(tmp_path / "mirrored.png"), photos[1]]
    sizes = []
    original = net.estimate

    def spy(images, *args):
        sizes.append(sorted({image.shape[:2] for image in images}))
        return original(images, *args)

    net.estimate = spy
    try:
        results = list(estimate_paths(net, EstimateSettings(multi_pose=True), paths, batch_size=8))
    finally:
        del net.estimate
    assert len(sizes) == 1 and len(sizes[0]) == 2  # one batch of five images: two sizes, so two session calls
    for path, result in zip(paths, results):
        assert result.record["poses"] == [pose.to_dict() for pose in net.estimate_multiple_poses(path)]


def test_resume_skips_recorded_images_and_cuts_a_partial_line(real_model_dir, photos, broken, tmp_path) -> None:
    out = tmp_path / "poses.jsonl"
    sources = [*photos[:6], broken[0]]
    assert _run(real_model_dir, *sources, "--jsonl", str(out)) == 1
    complete = out.read_bytes()
    lines = complete.splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])  # a job killed in the middle of line 4
    assert _run(real_model_dir, *sources, "--jsonl", str(out), "--resume") == 1
    assert out.read_bytes() == complete
    modified = out.stat().st_mtime_ns
    assert _run(real_model_dir, *sources, "--jsonl", str(out), "--resume") == 0  # nothing left to do, nothing failed now
    assert out.read_bytes() == complete and out.stat().st_mtime_ns == modified


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_a_stopped_job_leaves_complete_lines_and_resumes(shared, real_model_dir, photos, tmp_path, stop) -> None:
    """SIGKILL or Ctrl-C in the middle of a job: only whole lines remain, and --resume completes it to the same
    records. Ctrl-C ends with status 130 and one line that names the file kept."""
    out = tmp_path / "poses.jsonl"
    cli = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    cli += "from posenet_onnx.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [
        sys.executable, "-c", cli, "estimate", str(shared / "photos"), "--recursive", "--multi",
        *model_args(real_model_dir), "--jsonl", str(out),
    ]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 3):
        time.sleep(0.05)
    job.send_signal(stop)
    _, stderr = job.communicate(timeout=60)
    if stop == signal.SIGINT:
        assert job.returncode == 130 and stderr.count("\n") == 1 and f"kept complete: {out}" in stderr, stderr
    written = out.read_bytes()
    assert written.endswith(b"\n") and 3 <= written.count(b"\n") < 28
    first = _lines(out)  # every line is a whole record
    assert subprocess.run([*command, "--resume"], capture_output=True, timeout=300).returncode == 0
    records = _lines(out)
    assert records[: len(first)] == first
    assert sorted(r["image"] for r in records) == photos
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poses.jsonl"]


def test_parquet_has_one_row_per_pose_and_the_failures(real_model_dir, photos, broken, expected, tmp_path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "poses.parquet"
    assert _run(real_model_dir, *photos[:5], broken[0], "--parquet", str(out)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["poses.parquet"]  # no temporary file left
    table = pq.read_table(out)
    columns = ["image", "width", "height", "error", "pose", "score"]
    columns += [f"{part}_{value}" for part in PART_NAMES for value in ("x", "y", "score")]
    assert table.schema.names == columns
    rows = table.to_pylist()
    wanted = []
    for path in photos[:5]:
        record = expected[path]
        for index, pose in enumerate(record["poses"]):
            row = {"image": path, "width": record["width"], "height": record["height"], "error": None, "pose": index}
            row["score"] = pose["score"]
            for keypoint in pose["keypoints"]:
                part = keypoint["part"]
                row |= {f"{part}_x": keypoint["position"]["x"], f"{part}_y": keypoint["position"]["y"], f"{part}_score": keypoint["score"]}
            wanted.append(row)
    assert rows[:-1] == wanted
    assert rows[-1]["image"] == broken[0] and rows[-1]["error"] and rows[-1]["pose"] is None and rows[-1]["width"] is None


def test_json_list_keeps_the_seed_shape(real_model_dir, photos, broken, expected, tmp_path) -> None:
    out = tmp_path / "poses.json"
    assert _run(real_model_dir, photos[0], broken[0], "--json", str(out)) == 1
    records = json.loads(out.read_text())
    assert records[0] == {"image": photos[0], "poses": expected[photos[0]]["poses"]}
    assert records[1]["image"] == broken[0] and set(records[1]) == {"image", "error"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume"], "--resume appends to a --jsonl OUT"),
        (["--jsonl", "OUT", "--parquet", "OUT"], "Two outputs write to"),
        (["--jsonl", "INPUT"], "is the input"),
        (["--batch-size", "0"], "--batch-size must be 1 or more"),
        (["--threads", "100000"], "--threads must be 1 to 64"),
        (["--engine", "ray", "--draw", "DIR"], "--draw runs with the local engine only"),
    ],
)
def test_bad_job_options_exit_2_with_one_line(capsys, real_model_dir, photos, tmp_path, args, message) -> None:
    image = tmp_path / "input.jpg"
    shutil.copy(photos[0], image)
    names = {"OUT": str(tmp_path / "out.jsonl"), "INPUT": str(image), "DIR": str(tmp_path / "drawn")}
    assert _run(real_model_dir, str(image), *(names.get(a, a) for a in args)) == 2
    err = capsys.readouterr().err
    assert err.startswith("posenet-onnx estimate: error: ") and message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.jpg"]


def test_threads_sets_how_many_threads_read_and_estimate_the_images(monkeypatch, real_model_dir, photos, tmp_path) -> None:
    """On the CPU, --threads N reads and estimates the images in N worker threads (one more than the cores
    here), each on a network of one thread."""
    from posenet_onnx.runtime import posenet
    from posenet_onnx.runtime.batch import jobs

    readers: set[str] = set()
    read = posenet.decode_image

    def slow_read(path: str, needs=None):
        readers.add(threading.current_thread().name)
        time.sleep(0.05)  # long enough for every thread to be started while the first reads are still going
        return read(path, needs)

    monkeypatch.setattr(posenet, "decode_image", slow_read)
    loaded = []
    monkeypatch.setattr(jobs, "check_runs", lambda net, settings: loaded.append(net._options.intra_op_num_threads))
    threads = (os.cpu_count() or 1) + 1
    out = tmp_path / "poses.jsonl"
    assert _run(real_model_dir, *photos[:12], "--threads", str(threads), "--jsonl", str(out)) == 0
    assert len(_lines(out)) == 12
    assert len(readers) == threads and all(name.startswith("posenet-job") for name in readers)
    assert loaded == [1]


def test_the_extras_are_imported_only_when_asked_for() -> None:
    """Ray, pyarrow and pycocotools load only inside the functions that need them."""
    modules = ["posenet_onnx.cli", "posenet_onnx.commands.estimate", "posenet_onnx.commands.evaluate"]
    modules += [f"posenet_onnx.runtime.batch.{name}" for name in ("jobs", "records", "sources", "ray_engine")]
    modules += ["posenet_onnx.runtime.evaluation.coco"]
    code = f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
    code += "print(sorted({'ray', 'pyarrow', 'pycocotools'} & {m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
