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
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.outputs import json_text
from posenet_onnx.runtime.batch.jobs import check_runs, read_ahead
from posenet_onnx.runtime.images import Size, decode_image
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
        """The configuration as a flat row: precision, mode, scale, output_stride, refinement, flip_test."""
        s = self.settings
        return {
            "precision": self.precision,
            "mode": "multi" if s.multi_pose else "single",
            "scale": s.image_scale_factor,
            "output_stride": s.output_stride,
            "refinement": s.refinement if s.multi_pose else None,
            "flip_test": s.flip_test,
        }

    def tag(self) -> str:
        """A short file-name-safe name, e.g. `multi_scale0.5_stride16_fp32_v1` (no stride: the default;
        `_flip` ends it with the flip test)."""
        d = self.describe()
        stride = None if d["output_stride"] is None else f"stride{d['output_stride']}"
        parts = [d["mode"], f"scale{d['scale']:g}", stride, d["precision"], d["refinement"], "flip" if d["flip_test"] else None]
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
    flip_tests: Sequence[bool] = (),
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
        flip_tests or [base.flip_test],
    )
    for precision, mode, scale, stride, refinement, flip_test in axes:
        multi = mode == "multi"
        settings = replace(
            base, multi_pose=multi, image_scale_factor=scale, output_stride=stride, refinement=refinement if multi else "v1",
            flip_test=flip_test,
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
    """COCO keypoint annotations (e.g. person_keypoints_val2017.json) as a pycocotools COCO object; every field
    the evaluation reads is checked first (`check_dataset`), so that a bad file fails before any image is read."""
    COCO, _ = import_cocotools()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no annotation file {str(path)!r} (COCO keypoints JSON, e.g. person_keypoints_val2017.json)")
    try:
        dataset = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is not COCO keypoint annotations: not JSON ({exc})") from None
    check_dataset(dataset, str(path))
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = dataset
        ground_truth.createIndex()
    keypoint_order(ground_truth)  # checked once, here
    return ground_truth


def check_dataset(dataset: Any, source: str) -> None:
    """Refuse, with one line naming the record, the field and what is valid, annotations the evaluation would
    fail on or misread: the three lists, integer ids (each image once), non-empty file names, and for every
    person annotation its keypoints (51 numbers), num_keypoints, area, bbox (4 numbers) and iscrowd."""
    if not isinstance(dataset, dict):
        raise ValueError(
            f"{source} is not COCO keypoint annotations: they are a JSON object with images, annotations and categories lists"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(key), list):
            what = "no" if key not in dataset else f"a {type(dataset[key]).__name__} as"
            raise ValueError(f"{source} has {what} {key!r}; COCO annotations give images, annotations and categories as lists")
    image_ids: set[int] = set()
    for index, image in enumerate(dataset["images"]):
        where = f"{source}: images[{index}]"
        _check_record(image, where, ("id", "file_name"))
        if not _is_integer(image["id"]) or image["id"] in image_ids:
            raise ValueError(f"{where} has id {_shown(image['id'])}; image ids are integers, each image's its own")
        image_ids.add(image["id"])
        if not isinstance(image["file_name"], str) or not image["file_name"]:
            raise ValueError(
                f"{where} has file_name {_shown(image['file_name'])}; a file_name is a non-empty text (a path in the image folder)"
            )
    for index, category in enumerate(dataset["categories"]):
        where = f"{source}: categories[{index}]"
        _check_record(category, where, ("id",))
        names = category.get("keypoints", [])
        if not _is_integer(category["id"]) or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"{where} has id {_shown(category['id'])} and keypoints {_shown(names)}; a category has an integer id "
                "and a list of keypoint names"
            )
    for index, annotation in enumerate(dataset["annotations"]):
        _check_annotation(annotation, f"{source}: annotations[{index}]", image_ids)


# What COCOeval reads of each person annotation (iscrowd is optional), and what each must be.
_PERSON_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "keypoints": (
        lambda v: _numbers(v, 3 * len(PART_NAMES)), f"{3 * len(PART_NAMES)} numbers (x, y, visibility for each of 17 keypoints)"
    ),
    "num_keypoints": (lambda v: _is_integer(v) and v >= 0, "an integer, 0 or more"),
    "area": (lambda v: _numbers([v], 1) and v >= 0, "a number, 0 or more"),
    "bbox": (lambda v: _numbers(v, 4), "[x, y, width, height], four numbers"),
    "iscrowd": (lambda v: v in (0, 1) and not isinstance(v, float), "0 or 1"),
}


def _check_annotation(annotation: Any, where: str, image_ids: set[int]) -> None:
    """One annotation: integer id, image_id of a listed image, category_id; a person's fields as COCO gives them."""
    _check_record(annotation, where, ("id", "image_id", "category_id"))
    for key in ("id", "category_id"):
        if not _is_integer(annotation[key]):
            raise ValueError(f"{where} has {key} {_shown(annotation[key])}; it is an integer")
    if not _is_integer(annotation["image_id"]) or annotation["image_id"] not in image_ids:
        raise ValueError(
            f"{where} has image_id {_shown(annotation['image_id'])}, which is no image's id; it names one of the images' ids"
        )
    if annotation["category_id"] != PERSON_CATEGORY:
        return
    _check_record(annotation, f"{where} (a person)", tuple(key for key in _PERSON_FIELDS if key != "iscrowd"))
    for key, (valid, description) in _PERSON_FIELDS.items():
        if key in annotation and not valid(annotation[key]):
            raise ValueError(f"{where} has {key} {_shown(annotation[key])}; COCO gives {key} as {description}")


def _check_record(record: Any, where: str, keys: tuple[str, ...]) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"{where} is {_shown(record)}; it is a JSON object with {', '.join(keys)}")
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)} (it gives {', '.join(keys)})")


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _numbers(value: Any, count: int) -> bool:
    """Whether `value` is a list of `count` finite numbers (not booleans)."""
    return (
        isinstance(value, list) and len(value) == count
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )


def _shown(value: Any) -> str:
    """A value as it appears in a message: its JSON, cut to 60 characters."""
    text = json.dumps(value) if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
        evaluation.params.catIds = [PERSON_CATEGORY]  # the people: other categories' annotations are not PoseNet's
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: (float(value) if value >= 0 else None) for name, value in zip(METRICS, evaluation.stats)}


def image_paths(ground_truth: Any, images_dir: str | os.PathLike) -> dict[int, str]:
    """Image id -> file under `images_dir` (the annotations' file_name). Every name is checked to stay inside
    the folder before any file is looked at (no absolute path, no `..`, no link that leads out, so that
    nothing outside is read or even found to exist), then every file to exist."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"no image folder {str(images_dir)!r}")
    paths = {image["id"]: inside_folder(images_dir, image["file_name"]) for image in ground_truth.dataset["images"]}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} annotated images are not in {images_dir}, e.g. {missing[0]}")
    return paths


def inside_folder(folder: Path, name: str) -> str:
    """`folder / name` where `name` is a relative path that stays inside `folder`, links followed; ValueError
    otherwise (the same message whether or not such a file exists)."""
    root = os.path.realpath(folder)
    relative = Path(name)
    refused = "\0" in name or relative.is_absolute() or relative.anchor or ".." in relative.parts
    if not refused:
        refused = os.path.commonpath([root, os.path.realpath(os.path.join(root, name))]) != root
    if refused:
        raise ValueError(
            f"the annotations' file_name {name!r} leads outside the image folder {folder}; file names are relative "
            "paths inside it (no absolute path, no '..', no link that leads out)"
        )
    return str(folder / name)


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
    decode = decoder_for_all(networks, configurations)
    images = read_ahead((paths[i] for i in ids), threads, ahead=2 * threads, decode=decode)
    for image_id, item in progress(zip(ids, images), len(ids)):
        if item.image is None:
            raise ValueError(f"cannot evaluate: {item.error}")
        for found, c in zip(detections, configurations):
            poses = networks[c.precision].estimate([item.image], c.settings, [item.size])[0]
            found += [coco_detection(image_id, pose, order) for pose in poses]
    return [Evaluation(c, oks_metrics(ground_truth, d), d) for c, d in zip(configurations, detections)]


def decoder_for_all(
    networks: dict[str, PoseNet], configurations: Sequence[Configuration]
) -> Callable[[str], tuple[Any, Size]]:
    """Read each image once for every configuration: reduced (`fast_decode`) only as far as the largest
    network input among them allows, and only when every configuration asks for it."""
    if not all(c.settings.fast_decode for c in configurations):
        return decode_image

    def needs(height: int, width: int) -> Size:
        sizes = [networks[c.precision].input_size(height, width, c.settings) for c in configurations]
        return max(h for h, _ in sizes), max(w for _, w in sizes)

    return lambda path: decode_image(path, needs)


def format_table(evaluations: Sequence[Evaluation]) -> str:
    """The rows as an aligned text table (metrics in percent, `-` where there are no such people)."""
    header = ["precision", "mode", "scale", "stride", "refinement", "flip", *METRICS]
    lines = [header]
    for e in evaluations:
        d = e.configuration.describe()
        config = [d["precision"], d["mode"], f"{d['scale']:g}", str(d["output_stride"]), d["refinement"] or "-"]
        config.append("on" if d["flip_test"] else "off")
        lines.append(config + ["-" if e.metrics[m] is None else f"{100 * e.metrics[m]:.1f}" for m in METRICS])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines)


def detections_json(detections: list[dict[str, Any]]) -> bytes:
    """A COCO results file's bytes."""
    return (json_text(detections) + "\n").encode()


def rows_json(evaluations: Sequence[Evaluation]) -> bytes:
    """The `--json` file's bytes: a list of rows (configuration and metrics)."""
    return (json_text([e.row() for e in evaluations], indent=2) + "\n").encode()
