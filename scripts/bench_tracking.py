#!/usr/bin/env python
"""Person IDs and keypoint steadiness on video with known truth: pan-and-zoom clips of the shared annotated
multi-person photos (tests/support/pan_clips.py: the clips and the measures, shared with the tests).

For every photo of at least --min-people annotated people and every camera path, the real model estimates
each frame, a default `PoseTracker` labels the poses, and a default `PoseSmoother` smooths them by ID. Per
clip: identity switches and fragments per 100 matched person-frames (poses >= 0.15 matched to the true
people by OKS >= 0.5), the IDs given out (to annotated people or not) and those each person had, and the
keypoint jitter (RMS of each matched person's keypoint second difference minus the truth's) and mean
error, raw and smoothed.

    python scripts/bench_tracking.py [--shared ../shared/posenet] [--model-dir DIR] [--frames 40]
                                     [--paths pan-right-zoom-in,...] [--min-people 2] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import posenet_onnx  # noqa: E402
from posenet_onnx.runtime.video.smoothing import PoseSmoother  # noqa: E402
from posenet_onnx.runtime.video.tracking import PoseTracker  # noqa: E402
from support import pan_clips  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "posenet")
    parser.add_argument("--model-dir", type=Path, help="folder with the exported 0.50 stride-16 graph (default: export one)")
    parser.add_argument("--frames", type=int, default=40, help="frames per clip (default 40)")
    parser.add_argument("--paths", default=",".join(pan_clips.PATHS), help="camera paths, comma-separated")
    parser.add_argument("--min-people", type=int, default=2, help="photos of at least this many people (default 2)")
    parser.add_argument("--scale", type=float, default=1.0, help="image scale factor of the estimate (default 1.0)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as scratch:
        model_dir = args.model_dir
        if model_dir is None:
            from posenet_onnx.export import export_model

            model_dir = Path(scratch)
            export_model(0.50, 16, model_dir, checkpoint_dir=args.shared / "checkpoints")
        net = posenet_onnx.load(0.50, device="cpu", model_dir=model_dir)
        report(net, args)


def report(net: posenet_onnx.PoseNet, args: argparse.Namespace) -> None:
    print(f"\n### {args.frames}-frame clips, {pan_clips.CLIP_WIDTH} px wide, {pan_clips.FPS:g} fps; 0.50 stride 16, "
          f"scale {args.scale}, max(5, people + 4) poses; default PoseTracker and PoseSmoother\n")
    print("| photo | path | people | matched | switches | fragments | IDs | jitter raw | jitter smoothed | error raw | error smoothed |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    total, raw_all, smooth_all = pan_clips.Score(), pan_clips.Steadiness(), pan_clips.Steadiness()
    ids = people_all = 0
    per_person: list[int] = []  # the IDs each person was matched to, per clip
    for name, photo, people in pan_clips.annotated_photos(args.shared, args.min_people):
        for path in args.paths.split(","):
            most = max(5, len(people) + 4)
            clip = [
                (net.estimate_multiple_poses(image, args.scale, max_pose_detections=most), truth)
                for image, truth in pan_clips.camera_clip(photo, people, pan_clips.PATHS[path], args.frames)
            ]
            tracker, smoother, labels = PoseTracker(), PoseSmoother(), []
            score = pan_clips.score_tracks(clip, lambda poses: labels.append(tracker(poses)) or labels[-1])
            smoothed = [smoother(poses, f / pan_clips.FPS, i) for f, ((poses, _), i) in enumerate(zip(clip, labels))]
            raw = pan_clips.steadiness(clip, score.matches, [poses for poses, _ in clip])
            smooth = pan_clips.steadiness(clip, score.matches, smoothed)
            total.add(score)
            raw_all.add(raw)
            smooth_all.add(smooth)
            ids += len(score.ids)
            per_person += [len(found) for found in score.person_ids.values()]
            people_all += len(people)
            print(f"| {name} | {path} | {len(people)} | {score.matched} | {score.switches} | {score.fragments} | "
                  f"{len(score.ids)} | {raw.jitter:.2f} | {smooth.jitter:.2f} | {raw.error:.2f} | {smooth.error:.2f} |", flush=True)
    switches, fragments = total.per_100()
    print(f"| **all** | | {people_all} | {total.matched} | {total.switches} | {total.fragments} | {ids} | "
          f"{raw_all.jitter:.2f} | {smooth_all.jitter:.2f} | {raw_all.error:.2f} | {smooth_all.error:.2f} |")
    print(f"\nswitches / 100 matched person-frames: {switches:.2f}; fragments / 100: {fragments:.2f}; "
          f"IDs given out per annotated person: {ids / max(people_all, 1):.2f}; IDs each matched person had: "
          f"{sum(per_person) / max(len(per_person), 1):.2f} on average, {max(per_person, default=0)} at most")
    print(f"jitter (px): raw {raw_all.jitter:.2f}, smoothed {smooth_all.jitter:.2f} "
          f"({smooth_all.jitter / raw_all.jitter - 1:+.0%}); mean error (px): raw {raw_all.error:.2f}, "
          f"smoothed {smooth_all.error:.2f} ({smooth_all.error / raw_all.error - 1:+.1%})")


if __name__ == "__main__":
    main()
