#!/usr/bin/env python
"""End-to-end speed of this checkout against another revision of posenet-onnx, interleaved.

Both versions run the same real 0.50 graphs (exported once by this checkout) on the same photo, in
alternating child processes (this checkout, the other revision, this checkout, ...), so both see the
same machine load; each round times `estimate_multiple_poses` and `estimate_single_pose` for a few
seconds after a warm-up, and with `--video` the `video` pipeline (`annotate_video` on the squats clip:
drawn H.264 video, JSON lines, tracking; onnxruntime's idle spinning off, as the command runs it). The
other revision is unpacked with `git archive` and imported through a folder that maps its stage folders
under `posenet_onnx` as the installed package does.

    python scripts/bench_versions.py --base REVISION [--rounds 6] [--seconds 2.0] [--video]
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

CHILD = r"""
import json, os, sys, tempfile, time
import numpy as np
import posenet_onnx
from posenet_onnx.runtime.images import load_image
model_dir, photo, seconds, clip = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
net = posenet_onnx.load(0.5, model_dir=model_dir, device="cpu")
image = load_image(photo)
result = {}
for name, call in (("multi", lambda: net.estimate_multiple_poses(image, 0.5)),
                   ("single", lambda: net.estimate_single_pose(image, 0.5))):
    for _ in range(20):
        call()
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter(); call(); times.append(time.perf_counter() - start)
    result[name] = float(np.median(times)) * 1000
if clip:
    try:  # the pipeline's module before and after the applications moved into runtime/video/
        from posenet_onnx.runtime.video.pipeline import annotate_video
    except ImportError:
        from posenet_onnx.runtime.video import annotate_video
    video_net = posenet_onnx.load(0.5, model_dir=model_dir, device="cpu", allow_spinning=False)
    estimate = lambda frame: video_net.estimate_multiple_poses(frame, 0.5)
    with tempfile.TemporaryDirectory() as out:
        def run():
            tracker = posenet_onnx.PoseTracker()
            start = time.perf_counter()
            annotate_video(clip, estimate, output=os.path.join(out, "v.mp4"), jsonl=os.path.join(out, "v.jsonl"), tracker=tracker)
            return time.perf_counter() - start
        run()
        result["video"] = float(np.median([run() for _ in range(3)])) * 1000
result["file"] = posenet_onnx.__file__
print(json.dumps(result))
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


def run_child(pythonpath: str | None, model_dir: Path, photo: Path, seconds: float, clip: Path | None) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run([sys.executable, "-c", CHILD, str(model_dir), str(photo), str(seconds), str(clip or "")],
                          check=True, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the other revision (a commit, branch or tag)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--video", action="store_true", help="also time the video pipeline on pose_squats.mp4 (3 runs a round)")
    args = parser.parse_args()
    from posenet_onnx.export import export_model

    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        model_dir = scratch_path / "models"
        for stride in (16,):
            export_model(0.50, stride, model_dir, checkpoint_dir=args.shared / "checkpoints", progress=False)
        base_site = unpack(args.base, scratch_path / "base")
        photo = args.shared / "images" / "couple.jpg"
        clip = args.shared / "images" / "pose_squats.mp4" if args.video else None
        rounds: dict[str, list[dict]] = {"this checkout": [], args.base: []}
        for _ in range(args.rounds):
            rounds["this checkout"].append(run_child(None, model_dir, photo, args.seconds, clip))
            rounds[args.base].append(run_child(str(base_site), model_dir, photo, args.seconds, clip))
        assert str(base_site) in rounds[args.base][0]["file"] or scratch in rounds[args.base][0]["file"]
    load = os.getloadavg()[0]
    print(f"0.50 stride 16, couple.jpg (640x480) at scale 0.5, CPU; {args.rounds} interleaved rounds of {args.seconds} s; "
          f"load average {load:.1f}")
    print("| call | this checkout ms | " + args.base + " ms | ratio (this / base) |")
    print("|---|---:|---:|---:|")
    names = {"multi": "estimate_multiple_poses", "single": "estimate_single_pose", "video": "annotate_video, 65 frames"}
    for call in names if args.video else ("multi", "single"):
        new = statistics.median(r[call] for r in rounds["this checkout"])
        old = statistics.median(r[call] for r in rounds[args.base])
        ratios = sorted(n[call] / o[call] for n, o in zip(rounds["this checkout"], rounds[args.base]))
        print(f"| {names[call]} | {new:.3f} | {old:.3f} | {new / old:.3f} (rounds {ratios[0]:.3f} to {ratios[-1]:.3f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
