"""`posenet-onnx estimate`: poses in image files as JSON (upstream's structure), and annotated pictures."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

from posenet_onnx.outputs import Output, OutputPlan, check_writable_folder, json_text, write_bytes

DRAWING_SUFFIX = ".poses.png"


def drawing_names(images: list[str], folder: Path, plan: OutputPlan) -> list[Output]:
    """One checked drawing per image, `<stem>.poses.png` in `folder`; `<stem>-2.poses.png`, ... where two
    images share a stem or a name is one of the inputs, so that no drawing replaces another or an input."""
    outputs: list[Output] = []
    taken: set[str] = set()
    for image in images:
        stem = Path(image).stem
        number = 1
        while True:
            name = f"{stem}{DRAWING_SUFFIX}" if number == 1 else f"{stem}-{number}{DRAWING_SUFFIX}"
            number += 1
            if name in taken or _is_an_input(folder / name, images):
                continue
            taken.add(name)
            outputs.append(plan.add(folder / name, "drawing"))
            break
    return outputs


def _is_an_input(path: Path, images: list[str]) -> bool:
    return path.exists() and any(os.path.exists(image) and os.path.samefile(path, image) for image in images)


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Estimate, then print or write `[{"image": path, "poses": [pose, ...]}, ...]` and the drawings.

    Every output is checked before the model loads: none may be an input or written twice.
    """
    from posenet_onnx.commands.model import estimator_from_args, load_from_args
    from posenet_onnx.runtime.draw import draw_poses
    from posenet_onnx.runtime.images import load_image

    plan = OutputPlan(args.images)
    drawings = drawing_names(args.images, check_writable_folder(args.draw, "drawing folder"), plan) if args.draw else None
    json_output = plan.add(args.json if args.json is not None else "-", "JSON output")
    net = load_from_args(args)
    estimate = estimator_from_args(net, args, multi=args.multi, flip=args.flip)
    records = []
    for number, path in enumerate(args.images):
        image = load_image(path)
        poses = estimate(image)
        records.append({"image": str(path), "poses": [pose.to_dict() for pose in poses]})
        if drawings is not None:
            # With --flip the positions are those of the mirrored image (upstream 1.0.3), so draw on it.
            picture = io.BytesIO()
            draw_poses(image[:, ::-1] if args.flip else image, poses).save(picture, format="PNG")
            write_bytes(drawings[number], picture.getvalue())
    write_bytes(json_output, (json_text(records, indent=2) + "\n").encode())
    return 0
