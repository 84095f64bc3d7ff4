"""Accuracy on COCO-format keypoint annotations: OKS AP, AP50, AP75, APm, APl and AR with pycocotools.

The protocol is COCO's keypoint evaluation as pycocotools runs it (`COCOeval(..., "keypoints")` over every
image of the annotation file), on the detections PoseNet makes: one per pose, its keypoints in the
annotation's keypoint order and the pose score as the detection score. A sweep estimates each image once per
configuration while reading it only once.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.outputs import json_text
from posenet_onnx.runtime.batch.jobs import check_runs, read_ahead
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.posenet import PoseNet
from posenet_onnx.runtime.settings import EstimateSettings

METRICS: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR")
PERSON_CATEGORY = 1


@dataclass(frozen=True)
class Configuration:
    """One evaluated setting: the graph precision and how the images are estimated."""

    precision: str = "fp32"
    settings: EstimateSettings = field(default_factory=lambda: EstimateSettings(multi_pose=True))

    def describe(self) -> dict[str, Any]:
        """The configuration as a flat row: precision, mode, scale, output_stride, refinement."""
        s = self.settings
        return {
            "precision": self.precision,
            "mode": "multi" if s.multi_pose else "single",
            "scale": s.image_scale_factor,
            "output_stride": s.output_stride,
            "refinement": s.refinement if s.multi_pose else None,
        }

    def tag(self) -> str:
        """A short file-name-safe name, e.g. `multi_scale0.5_stride16_fp32_v1` (no stride: the default)."""
        d = self.describe()
        stride = None if d["output_stride"] is None else f"stride{d['output_stride']}"
        parts = [d["mode"], f"scale{d['scale']:g}", stride, d["precision"], d["refinement"]]
        return "_".join(p for p in parts if p)


def tagged_names(name: str, configurations: Sequence[Configuration]) -> list[str]:
    """One file name per configuration: `name`'s stem, `_`, the configuration's tag, `name`'s suffix."""
    path = Path(name)
    return [str(path.with_name(f"{path.stem}_{c.tag()}{path.suffix}")) for c in configurations]


def sweep(
    base: EstimateSettings,
    *,
    scales: Sequence[float] = (),
    output_strides: Sequence[int] = (),
    precisions: Sequence[str] = (),
    modes: Sequence[str] = (),
    refinements: Sequence[str] = (),
) -> list[Configuration]:
    """Every combination of the given values (an empty axis keeps `base`'s value), each once, in order.

    Refinement is a multi-pose setting: single-pose configurations do not repeat over it.
    """
    configurations: dict[Configuration, None] = {}
    axes = itertools.product(
        precisions or ["fp32"],
        modes or ["multi" if base.multi_pose else "single"],
        scales or [base.image_scale_factor],
        output_strides or [base.output_stride],
        refinements or [base.refinement],
    )
    for precision, mode, scale, stride, refinement in axes:
        multi = mode == "multi"
        settings = replace(
            base, multi_pose=multi, image_scale_factor=scale, output_stride=stride, refinement=refinement if multi else "v1"
        )
        configurations.setdefault(Configuration(precision, settings))
    return list(configurations)


def import_cocotools() -> tuple[Any, Any]:
    """pycocotools' COCO and COCOeval, imported on first use; a clear message when the `[eval]` extra is missing."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise RuntimeError('evaluate needs pycocotools: pip install "posenet-onnx[eval]"') from None
    return COCO, COCOeval


def load_annotations(path: str | os.PathLike) -> Any:
    """COCO keypoint annotations (e.g. person_keypoints_val2017.json) as a pycocotools COCO object."""
    COCO, _ = import_cocotools()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no annotation file {str(path)!r} (COCO keypoints JSON, e.g. person_keypoints_val2017.json)")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            ground_truth = COCO(str(path))
    except (ValueError, KeyError, TypeError, AssertionError) as exc:  # pycocotools asserts a dict
        raise ValueError(f"{path} is not COCO keypoint annotations: {exc}") from None
    keypoint_order(ground_truth)  # checked once, here
    _check_records(ground_truth, path)
    return ground_truth


# What COCOeval reads of each image and each person annotation (iscrowd is optional).
_IMAGE_KEYS = ("id", "file_name")
_PERSON_KEYS = ("image_id", "keypoints", "num_keypoints", "area", "bbox")


def _check_records(ground_truth: Any, path: Path) -> None:
    """Refuse, before any image is estimated, records that the evaluation would fail on."""
    for image in ground_truth.dataset.get("images", []):
        missing = [key for key in _IMAGE_KEYS if key not in image]
        if missing:
            raise ValueError(f"{path}: an image record lacks {', '.join(missing)} (COCO images give id and file_name)")
    for annotation in ground_truth.dataset.get("annotations", []):
        if annotation.get("category_id") != PERSON_CATEGORY:
            continue
        missing = [key for key in _PERSON_KEYS if key not in annotation]
        if missing:
            raise ValueError(
                f"{path}: person annotation {annotation.get('id')} lacks {', '.join(missing)} (COCO keypoint "
                f"annotations give {', '.join(_PERSON_KEYS)})"
            )
        if not isinstance(annotation["keypoints"], list) or len(annotation["keypoints"]) != 3 * len(PART_NAMES):
            raise ValueError(
                f"{path}: person annotation {annotation.get('id')} has {len(annotation['keypoints'])} keypoint values; "
                f"COCO gives {3 * len(PART_NAMES)} (x, y, visibility for each of 17 keypoints)"
            )


def keypoint_order(ground_truth: Any) -> list[int]:
    """PART_NAMES' index of each of the person category's keypoints (COCO's `left_eye` is PoseNet's `leftEye`)."""
    try:
        names = ground_truth.loadCats(PERSON_CATEGORY)[0]["keypoints"]
    except (KeyError, IndexError):
        raise ValueError("the annotations have no person category (id 1) with keypoint names") from None
    snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", part).lower(): i for i, part in enumerate(PART_NAMES)}
    if sorted(names) != sorted(snake):
        raise ValueError(f"the person category's keypoints are not COCO's 17 ({', '.join(snake)}); got {names}")
    return [snake[name] for name in names]


def coco_detection(image_id: int, pose: Pose, order: Sequence[int]) -> dict[str, Any]:
    """One pose as a COCO keypoint result: x, y and the keypoint score per keypoint, the pose score as score."""
    keypoints: list[float] = []
    for i in order:
        keypoint = pose.keypoints[i]
        keypoints += [keypoint.position.x, keypoint.position.y, keypoint.score]
    return {"image_id": image_id, "category_id": PERSON_CATEGORY, "keypoints": keypoints, "score": pose.score}


def oks_metrics(ground_truth: Any, detections: list[dict[str, Any]]) -> dict[str, float | None]:
    """COCO's keypoint AP, AP50, AP75, APm, APl and AR over every annotated image (None: no such people)."""
    if not detections:  # pycocotools cannot load an empty result list; nothing found scores 0
        return {name: 0.0 for name in METRICS}
    _, COCOeval = import_cocotools()
    with contextlib.redirect_stdout(io.StringIO()):
        results = ground_truth.loadRes(detections)
        evaluation = COCOeval(ground_truth, results, "keypoints")
        evaluation.params.imgIds = sorted(ground_truth.getImgIds())
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: (float(value) if value >= 0 else None) for name, value in zip(METRICS, evaluation.stats)}


def image_paths(ground_truth: Any, images_dir: str | os.PathLike) -> dict[int, str]:
    """Image id -> file under `images_dir` (the annotations' file_name), every file checked to exist."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"no image folder {str(images_dir)!r}")
    paths = {image["id"]: str(images_dir / image["file_name"]) for image in ground_truth.dataset["images"]}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} annotated images are not in {images_dir}, e.g. {missing[0]}")
    return paths


@dataclass
class Evaluation:
    """One configuration's metrics and its COCO detections."""

    configuration: Configuration
    metrics: dict[str, float | None]
    detections: list[dict[str, Any]]

    def row(self) -> dict[str, Any]:
        """The configuration and the metrics, as `--json` writes them."""
        return {**self.configuration.describe(), **self.metrics}


def evaluate(
    ground_truth: Any,
    images_dir: str | os.PathLike,
    nets: Callable[[str], PoseNet],
    configurations: Sequence[Configuration],
    *,
    threads: int = 2,
    progress: Callable[[Iterable[Any], int], Iterable[Any]] = lambda items, total: items,
) -> list[Evaluation]:
    """Each configuration's accuracy on the annotated images (`nets(precision)` gives the network to use)."""
    paths = image_paths(ground_truth, images_dir)
    order = keypoint_order(ground_truth)
    networks = {c.precision: nets(c.precision) for c in configurations}
    for c in configurations:
        check_runs(networks[c.precision], c.settings)
    # The default stride (None) is the network's own: name it in the results.
    configurations = [
        c if c.settings.output_stride is not None
        else replace(c, settings=replace(c.settings, output_stride=networks[c.precision].output_stride))
        for c in configurations
    ]
    detections: list[list[dict[str, Any]]] = [[] for _ in configurations]
    ids = list(paths)
    images = read_ahead((paths[i] for i in ids), threads, ahead=2 * threads)
    for image_id, item in progress(zip(ids, images), len(ids)):
        if item.image is None:
            raise ValueError(f"cannot evaluate: {item.error}")
        for found, c in zip(detections, configurations):
            poses = networks[c.precision].estimate([item.image], c.settings)[0]
            found += [coco_detection(image_id, pose, order) for pose in poses]
    return [Evaluation(c, oks_metrics(ground_truth, d), d) for c, d in zip(configurations, detections)]


def format_table(evaluations: Sequence[Evaluation]) -> str:
    """The rows as an aligned text table (metrics in percent, `-` where there are no such people)."""
    header = ["precision", "mode", "scale", "stride", "refinement", *METRICS]
    lines = [header]
    for e in evaluations:
        d = e.configuration.describe()
        config = [d["precision"], d["mode"], f"{d['scale']:g}", str(d["output_stride"]), d["refinement"] or "-"]
        lines.append(config + ["-" if e.metrics[m] is None else f"{100 * e.metrics[m]:.1f}" for m in METRICS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines)


def detections_json(detections: list[dict[str, Any]]) -> bytes:
    """A COCO results file's bytes."""
    return (json_text(detections) + "\n").encode()


def rows_json(evaluations: Sequence[Evaluation]) -> bytes:
    """The `--json` file's bytes: a list of rows (configuration and metrics)."""
    return (json_text([e.row() for e in evaluations], indent=2) + "\n").encode()
