"""Folder jobs against hostile inputs: symlink loops, unreadable subfolders, two jobs on one output, non-UTF-8
file names, --resume with other settings. Each runs the real command (in-process, or as processes where two
jobs or another user's permissions are the point)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from posenet_onnx.cli import main
from posenet_onnx.runtime.batch.sources import expand_sources
from support.cli import model_args

# The command line, as a process: `python -c CLI estimate ...`.
CLI = "import sys; from posenet_onnx.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def photo(shared: Path) -> Path:
    return shared / "images" / "couple.jpg"


def _estimate(real_model_dir: Path, *args: str) -> int:
    return main(["estimate", *args, "--multi", *model_args(real_model_dir)])


def _images(path: Path) -> list[str]:
    return [json.loads(line)["image"] for line in path.read_text().splitlines()]


def _looped_tree(root: Path, photo: Path) -> Path:
    """L/a.jpg and L/s/b.jpg with three symlink loops: L/self -> L, L/s/up -> L, L/s/top -> L's parent."""
    tree = root / "L"
    (tree / "s").mkdir(parents=True)
    shutil.copy(photo, tree / "a.jpg")
    shutil.copy(photo, tree / "s" / "b.jpg")
    (tree / "self").symlink_to(".")
    (tree / "s" / "up").symlink_to("..")
    (tree / "s" / "top").symlink_to("../..")
    return tree


def test_a_glob_reads_each_image_of_a_symlink_loop_once(real_model_dir, photo, tmp_path) -> None:
    """`**` does not follow symlinked folders, as --recursive folders do not: three loops end, each image once
    (glob.glob would give 41 paths per image for one loop and run for hours with three)."""
    tree = _looped_tree(tmp_path, photo)
    wanted = [str(tree / "a.jpg"), str(tree / "s" / "b.jpg")]
    assert expand_sources([str(tree)], recursive=True) == wanted  # the folder form, for comparison
    out = tmp_path / "poses.jsonl"
    job = subprocess.run(
        [sys.executable, "-c", CLI, "estimate", f"{tree}/**/*.jpg", "--recursive", *model_args(real_model_dir),
         "--jsonl", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert job.returncode == 0, job.stderr
    assert _images(out) == wanted
    # Named explicitly, a link is followed like any folder: once.
    assert expand_sources([f"{tree}/self/*.jpg"]) == [f"{tree}/self/a.jpg"]


def test_glob_matches_what_glob_glob_finds_without_links(tmp_path, monkeypatch) -> None:
    """Without symlinked folders the patterns find what Python's glob finds: hidden names only by a dotted
    pattern, `**` spanning folders only with recursive, paths spelled as in the pattern."""
    import glob

    for name in ("a.jpg", "b.png", ".hidden.jpg", ".h/c.jpg", "x/y.jpg", "x/z/w.jpeg", "x/z/n.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    patterns = ["*.jpg", "**/*.jpg", "./x/**/*.jpeg", "x//*.jpg", ".*", ".h/*", "*/*", "**/z/*", "[ax]*/*.jpg", "x/**"]
    for pattern in patterns:
        for recursive in (False, True):
            found = glob.glob(pattern, recursive=recursive)
            expected = sorted(p for p in found if os.path.isfile(p) and p.endswith(("jpg", "png", "jpeg")))
            if expected:
                assert expand_sources([pattern], recursive=recursive) == expected, (pattern, recursive)
            else:
                with pytest.raises(ValueError, match="matches no image file"):
                    expand_sources([pattern], recursive=recursive)


def _unprivileged() -> list[str]:
    """A prefix that runs a command without the permission to read what its mode forbids: as root, root
    without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv), so a mode-000 folder is closed to it."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to drop root's permission override")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


@pytest.mark.parametrize("form", ["folder", "**", "*/literal"])
def test_an_unreadable_subfolder_is_named_and_fails_the_job(real_model_dir, photo, tmp_path, form) -> None:
    """A subfolder the user cannot list: one warning line naming it, the other images estimated, exit status
    1; with --on-error fail the job stops before any image; a folder named itself is a bad input (2)."""
    tree = tmp_path / "photos"
    for folder in ("open", "private"):
        (tree / folder).mkdir(parents=True)
        shutil.copy(photo, tree / folder / "a.jpg")
    (tree / "private").chmod(0)
    out = tmp_path / "poses.jsonl"
    source = {"folder": str(tree), "**": f"{tree}/**/*.jpg", "*/literal": f"{tree}/*/a.jpg"}[form]

    def estimate(*args: str) -> subprocess.CompletedProcess:
        command = [*_unprivileged(), sys.executable, "-c", CLI, "estimate", *args, *model_args(real_model_dir)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    unreadable = f"1 folder cannot be read: {tree}/private (Permission denied)"
    try:
        job = estimate(source, "--recursive", "--jsonl", str(out))
        assert job.returncode == 1 and job.stderr == f"posenet-onnx estimate: warning: images left out: {unreadable}\n"
        assert _images(out) == [str(tree / "open" / "a.jpg")]
        out.unlink()
        job = estimate(source, "--recursive", "--jsonl", str(out), "--on-error", "fail")
        assert job.returncode == 1 and job.stderr == f"posenet-onnx estimate: stopped: {unreadable}\n"
        assert not out.exists()
        named = estimate(str(tree / "private"))
        assert named.returncode == 2 and named.stderr.count("\n") == 1 and "Permission denied" in named.stderr
    finally:
        (tree / "private").chmod(0o755)


def test_two_jobs_on_one_jsonl_the_second_is_refused(real_model_dir, photo, tmp_path) -> None:
    """Two real processes write the same --jsonl: while the first is writing (held still with SIGSTOP, so
    that the timing cannot decide), a second job, fresh or --resume, is refused with one line naming the first;
    the first's file is complete and valid, and no lock file is left."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(12):
        (folder / f"p{index:02}.jpg").symlink_to(photo)
    out = tmp_path / "poses.jsonl"
    command = [sys.executable, "-c", CLI, "estimate", str(folder), *model_args(real_model_dir), "--jsonl", str(out)]
    first = subprocess.Popen([*command, "--batch-size", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and out.read_bytes().count(b"\n") >= 2):  # the first is writing
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)
        assert out.read_bytes().count(b"\n") < 12
        second = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
        third = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    for refused in (second, third):
        assert refused.returncode == 2
        assert refused.stderr == (
            f"posenet-onnx estimate: error: The output {out} is being written by another job (process {first.pid}); "
            "wait for it to end or write to another file.\n"
        )
    assert _images(out) == [str(folder / f"p{index:02}.jpg") for index in range(12)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "poses.jsonl"]


def test_a_lock_left_by_a_killed_job_is_taken_over(real_model_dir, photo, tmp_path) -> None:
    """SIGKILL leaves the lock file but not the lock: the next job on the output runs and removes it."""
    out = tmp_path / "poses.jsonl"
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(12):
        (folder / f"p{index:02}.jpg").symlink_to(photo)
    command = [sys.executable, "-c", CLI, "estimate", str(folder), *model_args(real_model_dir), "--jsonl", str(out)]
    job = subprocess.Popen([*command, "--batch-size", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out.exists() and out.read_bytes().count(b"\n") >= 1):
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    job.kill()
    job.wait()
    assert (tmp_path / ".poses.jsonl.posenet-onnx.lock").is_file()
    assert subprocess.run([*command, "--resume"], capture_output=True, timeout=120).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "poses.jsonl"]
    assert _images(out) == [str(folder / f"p{index:02}.jpg") for index in range(12)]


def test_a_file_of_the_users_under_the_lock_name_is_left_alone(capsys, real_model_dir, photo, tmp_path) -> None:
    out = tmp_path / "poses.jsonl"
    theirs = tmp_path / ".poses.jsonl.posenet-onnx.lock"
    theirs.write_text("my notes\n")
    assert _estimate(real_model_dir, str(photo), "--jsonl", str(out)) == 2
    assert capsys.readouterr().err == (
        f"posenet-onnx estimate: error: Cannot lock the output {out}: {theirs} is in the way (not a lock file); move it.\n"
    )
    assert theirs.read_text() == "my notes\n" and sorted(p.name for p in tmp_path.iterdir()) == [theirs.name]


def test_an_output_with_the_longest_file_name_is_locked_too(real_model_dir, photo, tmp_path) -> None:
    """A 255-byte output name leaves no room for `.NAME.posenet-onnx.lock`: the lock takes a hashed name."""
    out = tmp_path / ("p" * 249 + ".jsonl")
    assert _estimate(real_model_dir, str(photo), "--jsonl", str(out)) == 0
    assert _images(out) == [str(photo)] and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_parquet_writes_a_non_utf8_file_name_as_json_does(real_model_dir, photo, tmp_path) -> None:
    """A file name that is not UTF-8 (byte 0xE9, Latin-1): Parquet carries it as JSON lines do, `\\udce9`."""
    pq = pytest.importorskip("pyarrow.parquet")
    folder = tmp_path / "photos"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.jpg")
    shutil.copy(photo, folder / name)
    (folder / os.fsdecode(b"bad\xff.jpg")).write_text("not an image")
    jsonl, parquet = tmp_path / "poses.jsonl", tmp_path / "poses.parquet"
    assert _estimate(real_model_dir, str(folder), "--jsonl", str(jsonl), "--parquet", str(parquet)) == 1
    assert b'photos/caf\\udce9.jpg"' in jsonl.read_bytes()
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    escaped = [record["image"].encode("utf-8", "surrogateescape").decode("latin-1") for record in records]
    assert escaped == [f"{folder}/bad\xff.jpg", f"{folder}/café.jpg"]  # the JSON names are the files' bytes
    rows = pq.read_table(parquet).to_pylist()
    assert {row["image"] for row in rows} == {f"{folder}/bad\\udcff.jpg", f"{folder}/caf\\udce9.jpg"}
    assert sum(row["image"].endswith("caf\\udce9.jpg") for row in rows) == len(records[1]["poses"]) > 0
    failed = [row for row in rows if row["error"]]
    assert len(failed) == 1 and "bad\\udcff.jpg" in failed[0]["error"]
    metadata = pq.read_schema(parquet).metadata  # the job's settings, as the first JSON record has them
    assert json.loads(metadata[b"posenet_onnx.settings"]) == records[0]["settings"]


def test_resume_refuses_other_settings(capsys, real_model_dir, photo, tmp_path) -> None:
    """The first record carries the job's settings; --resume with other settings is one line naming each
    difference, and the file is untouched; with the same settings it appends."""
    images = tmp_path / "photos"
    images.mkdir()
    for index in range(3):
        (images / f"p{index}.jpg").symlink_to(photo)
    out = tmp_path / "poses.jsonl"
    argv = ["estimate", str(images / "p0.jpg"), str(images / "p1.jpg"), *model_args(real_model_dir), "--jsonl", str(out)]
    assert main([*argv, "--multi"]) == 0
    first = json.loads(out.read_text().splitlines()[0])
    assert first["settings"] == {
        "multiplier": 0.5, "precision": "fp32", "multi_pose": True, "image_scale_factor": 0.5,
        "flip_horizontal": False, "output_stride": 16, "max_pose_detections": 5, "score_threshold": 0.5,
        "nms_radius": 20, "refinement": "v1", "flip_test": False, "fast_decode": False,
    }
    out.write_bytes(out.read_bytes() + b'{"image": "cut by a kill')  # a partial last line stays too
    written = out.read_bytes()
    capsys.readouterr()
    argv[1:3] = [str(images)]
    assert main([*argv, "--resume", "--scale", "1.0"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"posenet-onnx estimate: error: --resume: {out} was made with other settings (multi_pose true -> false, "
        "image_scale_factor 0.5 -> 1.0); resume with the settings it was made with, or write to another --jsonl file\n"
    )
    assert out.read_bytes() == written
    assert main([*argv, "--resume", "--multi", "--output-stride", "16"]) == 0  # the same settings, spelled out
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and "settings" not in json.loads(lines[2])
    assert _images(out) == [str(images / f"p{index}.jpg") for index in range(3)]
