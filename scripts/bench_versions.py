#!/usr/bin/env python
"""Speed of this checkout against another revision of posenet-onnx, interleaved in short slices.

Both versions run the same real 0.50 graphs (exported once by this checkout) in two long-lived worker
processes, one per version, that take turns: each measurement is a slice (a few hundred milliseconds of
`estimate_multiple_poses` or `estimate_single_pose` calls on couple.jpg at scale 0.5, or with `--video`
one run of the `video` pipeline, `annotate_video` on the squats clip with the drawn H.264 video, JSON lines
and tracking, onnxruntime's idle spinning off as the command runs it), in the order this, other, other,
this, ... so that both see the same machine load. Each pair of slices gives ratios, this / other, of
three times per call: the median wall time, the fastest call's wall time, and the median CPU time (all
threads of the process, and for the video the ffmpeg processes too: less sensitive to other jobs on a
shared machine than wall time). The table shows the median of each ratio over the rounds, and the range
of the first. The other revision is unpacked
with `git archive` and imported through a folder that maps its stage folders under `posenet_onnx` as the
installed package does.

    python scripts/bench_versions.py --base REVISION [--rounds 20] [--seconds 0.3] [--video]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# A worker: loads the model, warms up, then answers one JSON line per request line ("multi", "single",
# "video"): that slice's median and fastest wall milliseconds and median CPU milliseconds per call.
WORKER = r"""
import json, os, resource, sys, tempfile, time
import numpy as np
import posenet_onnx
from posenet_onnx.runtime.images import load_image
model_dir, photo, seconds, clip = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
net = posenet_onnx.load(0.5, model_dir=model_dir, device="cpu")
image = load_image(photo)
calls = {"multi": lambda: net.estimate_multiple_poses(image, 0.5), "single": lambda: net.estimate_single_pose(image, 0.5)}
for call in calls.values():
    for _ in range(50):
        call()
out = tempfile.mkdtemp()
if clip:
    try:  # the pipeline's module before and after the applications moved into runtime/video/
        from posenet_onnx.runtime.video.pipeline import annotate_video
    except ImportError:
        from posenet_onnx.runtime.video import annotate_video
    video_net = posenet_onnx.load(0.5, model_dir=model_dir, device="cpu", allow_spinning=False)
    estimate = lambda frame: video_net.estimate_multiple_poses(frame, 0.5)
    def video():
        annotate_video(clip, estimate, output=os.path.join(out, "v.mp4"), jsonl=os.path.join(out, "v.jsonl"),
                       tracker=posenet_onnx.PoseTracker())
    video()
print(json.dumps({"file": posenet_onnx.__file__}), flush=True)
for request in sys.stdin:
    name = request.strip()
    times, cpu = [], []
    end = time.perf_counter() + seconds
    while name == "video" and not times or name != "video" and time.perf_counter() < end:
        start, start_cpu = time.perf_counter(), time.process_time()
        start_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        video() if name == "video" else calls[name]()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu + children.ru_utime + children.ru_stime
                   - start_children.ru_utime - start_children.ru_stime)
    print(json.dumps([float(np.median(times)) * 1000, min(times) * 1000, float(np.median(cpu)) * 1000]), flush=True)
"""

def unpack(revision: str, into: Path) -> Path:
    """The revision's tree under `into/tree`, and an import folder `into/site` mapping its packages."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True).stdout
    tree = into / "tree"
    tree.mkdir(parents=True)
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(tree, filter="data")
    site = into / "site" / "posenet_onnx"
    site.parent.mkdir(parents=True)
    os.symlink(tree / "src" / "posenet_onnx", site)
    for stage in ("export", "runtime", "decode"):
        if not (tree / "src" / "posenet_onnx" / stage).exists():
            os.symlink(tree / stage, tree / "src" / "posenet_onnx" / stage)
    return into / "site"


class Worker:
    """One version's worker process (PYTHONPATH `pythonpath`, None: this checkout)."""

    def __init__(self, pythonpath: str | None, model_dir: Path, photo: Path, seconds: float, clip: Path | None) -> None:
        env = dict(os.environ)
        if pythonpath is not None:
            env["PYTHONPATH"] = pythonpath
        command = [sys.executable, "-c", WORKER, str(model_dir), str(photo), str(seconds), str(clip or "")]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                        cwd=tempfile.gettempdir())
        self.file = json.loads(self._line())["file"]

    def slice(self, name: str) -> list[float]:
        """One slice of `name` calls: median wall, fastest wall and median CPU ms per call."""
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)

    def _line(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a worker stopped (exit status {self.process.wait()})")
        return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the other revision (a commit, branch or tag)")
    parser.add_argument("--rounds", type=int, default=20, help="slices per version and call")
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one slice of image calls")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--video", action="store_true", help="also time the video pipeline on pose_squats.mp4 (one run a slice)")
    args = parser.parse_args()
    from posenet_onnx.export import export_model

    names = {"multi": "estimate_multiple_poses", "single": "estimate_single_pose"}
    if args.video:
        names["video"] = "annotate_video, 65 frames"
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        model_dir = scratch_path / "models"
        export_model(0.50, 16, model_dir, checkpoint_dir=args.shared / "checkpoints", progress=False)
        base_site = unpack(args.base, scratch_path / "base")
        photo = args.shared / "images" / "couple.jpg"
        clip = args.shared / "images" / "pose_squats.mp4" if args.video else None
        this = Worker(None, model_dir, photo, args.seconds, clip)
        other = Worker(str(base_site), model_dir, photo, args.seconds, clip)
        assert scratch in other.file and scratch not in this.file, (this.file, other.file)
        loads = [os.getloadavg()[0]]
        ratios: dict[str, list[list[float]]] = {name: [] for name in names}
        medians: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
        for round_number in range(args.rounds):
            for name in names:
                first, second = (this, other) if round_number % 2 == 0 else (other, this)
                times = {id(first): first.slice(name), id(second): second.slice(name)}
                new, old = times[id(this)], times[id(other)]
                ratios[name].append([n / o for n, o in zip(new, old)])
                medians[name][0].append(new[0])
                medians[name][1].append(old[0])
        loads.append(os.getloadavg()[0])
        this.close()
        other.close()
    print(f"0.50 stride 16, CPU; couple.jpg (640x480) at scale 0.5; {args.rounds} rounds of interleaved slices "
          f"({args.seconds} s of calls, or one video run); load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end")
    print(f"| call | this checkout ms | {args.base} ms | ratio this / {args.base}: median wall (range) | fastest call | CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, label in names.items():
        new, old = (statistics.median(values) for values in medians[name])
        wall, fastest, cpu = (statistics.median(column) for column in zip(*ratios[name]))
        low, high = min(r[0] for r in ratios[name]), max(r[0] for r in ratios[name])
        print(f"| {label} | {new:.3f} | {old:.3f} | {wall:.3f} ({low:.3f} to {high:.3f}) | {fastest:.3f} | {cpu:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
