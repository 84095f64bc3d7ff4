"""`posenet-onnx evaluate`: COCO OKS metrics checked on cases whose values follow from the OKS formula by hand,
and the real 0.50 model's detections on the shared photos checked against the public API."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from posenet_onnx.cli import main
from posenet_onnx.keypoints import PART_NAMES
from posenet_onnx.runtime.evaluation import coco as evaluate
from posenet_onnx.runtime.pose import Pose
from support.cli import model_args

# COCO's per-keypoint OKS constants (sigmas), from the COCO keypoint evaluation page, in COCO's keypoint order.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10
COCO_NAMES = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
]
AREA = 5000.0  # a "medium" person: between 32^2 and 96^2


def _person(annotation_id: int, image_id: int, points: np.ndarray) -> dict:
    keypoints = np.concatenate([points, np.full((17, 1), 2.0)], axis=1).ravel().tolist()
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return {
        "id": annotation_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "keypoints": keypoints,
        "num_keypoints": 17, "area": AREA, "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
    }


@pytest.fixture
def two_people(tmp_path: Path) -> tuple[object, list[np.ndarray]]:
    """Hand-made annotations: one image, two people with every keypoint visible, of area AREA."""
    rng = np.random.default_rng(7)
    people = [rng.uniform(50, 120, (17, 2)) + offset for offset in (0.0, 300.0)]
    dataset = {
        "images": [{"id": 1, "file_name": "one.jpg", "width": 640, "height": 480}],
        "annotations": [_person(i + 1, 1, points) for i, points in enumerate(people)],
        "categories": [{"id": 1, "name": "person", "keypoints": COCO_NAMES, "skeleton": []}],
    }
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(dataset))
    return evaluate.load_annotations(path), people


def _detection(points: np.ndarray, score: float, ground_truth: object) -> dict:
    """A detection built from a PoseNet Pose (part-id order), so that the keypoint reordering is tested too."""
    pose = Pose.from_arrays(score, np.ones(17, np.float32), points, PART_NAMES)
    return evaluate.coco_detection(1, pose, evaluate.keypoint_order(ground_truth))


def _shift_for_oks(target: float) -> float:
    """The shift d (pixels, in x, of every keypoint) that gives OKS `target`: mean exp(-d^2 / (2 A (2 sigma)^2))."""
    def oks(d: float) -> float:
        return float(np.mean(np.exp(-(d * d) / (2 * AREA * (2 * COCO_SIGMAS) ** 2))))

    low, high = 0.0, 100.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if oks(middle) > target else (low, middle)
    return low


def test_a_detection_at_oks_0_625_passes_three_of_the_ten_thresholds(two_people) -> None:
    """OKS 0.625 clears 0.50, 0.55 and 0.60 of COCO's ten thresholds 0.50:0.05:0.95; the other person is found
    exactly (OKS 1, every threshold)."""
    ground_truth, people = two_people
    shifted = people[0] + np.array([_shift_for_oks(0.625), 0.0])
    detections = [_detection(shifted, 0.8, ground_truth), _detection(people[1], 0.9, ground_truth)]
    metrics = evaluate.oks_metrics(ground_truth, detections)
    # Per threshold: both found up to 0.60 (AP 1); above, only the exact, higher-scored one: precision 1 up to
    # recall 1/2, so COCO's 101-point interpolated AP is 51/101 there.
    above = 51 / 101
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(above)
    assert metrics["AP"] == pytest.approx((3 * 1.0 + 7 * above) / 10)
    assert metrics["APm"] == pytest.approx(metrics["AP"]) and metrics["APl"] is None  # no large people here
    assert metrics["AR"] == pytest.approx((3 * 1.0 + 7 * 0.5) / 10)


def test_keypoints_in_the_wrong_order_score_lower(two_people) -> None:
    ground_truth, people = two_people
    exact = [_detection(p, 0.9, ground_truth) for p in people]
    assert evaluate.oks_metrics(ground_truth, exact)["AP"] == pytest.approx(1.0)
    swapped = [d | {"keypoints": d["keypoints"][3:] + d["keypoints"][:3]} for d in exact]
    assert evaluate.oks_metrics(ground_truth, swapped)["AP"] < 0.5
    assert evaluate.oks_metrics(ground_truth, []) == {name: 0.0 for name in evaluate.METRICS}


def test_ground_truth_as_detections_scores_1_on_the_photos(shared: Path) -> None:
    ground_truth = evaluate.load_annotations(shared / "photos" / "coco17_all.json")
    detections = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in ground_truth.dataset["annotations"]
        if a["num_keypoints"] > 0 and not a["iscrowd"]
    ]
    metrics = evaluate.oks_metrics(ground_truth, detections)
    assert all(metrics[name] == pytest.approx(1.0) for name in evaluate.METRICS if metrics[name] is not None)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AR"] == pytest.approx(1.0)


def test_detections_are_the_api_poses_in_coco_order(shared: Path, net) -> None:
    ground_truth = evaluate.load_annotations(shared / "photos" / "coco17_all.json")
    [result] = evaluate.evaluate(ground_truth, shared / "photos", lambda precision: net, [evaluate.Configuration()])
    by_image: dict[int, list[dict]] = {}
    for detection in result.detections:
        by_image.setdefault(detection["image_id"], []).append(detection)
    images = ground_truth.dataset["images"]
    assert set(by_image) <= {image["id"] for image in images}
    for image in images[:6]:
        poses = net.estimate_multiple_poses(shared / "photos" / image["file_name"])  # the seed's multi-pose defaults
        found = by_image.get(image["id"], [])
        assert [d["score"] for d in found] == [pose.score for pose in poses]
        for detection, pose in zip(found, poses):
            # COCO's order is PoseNet's part-id order (nose, left_eye, ...): x, y, keypoint score per keypoint.
            expected = [v for k in pose.keypoints for v in (k.position.x, k.position.y, k.score)]
            assert detection["keypoints"] == expected
    assert 0.0 < result.metrics["AP"] < 1.0


def test_cli_sweep_rows_and_detections(capsys, shared: Path, real_model_dir: Path, tmp_path: Path) -> None:
    rows_path, detections_path = tmp_path / "rows.json", tmp_path / "detections.json"
    argv = [
        "evaluate", "--annotations", str(shared / "photos" / "coco17_all.json"), "--images", str(shared / "photos"),
        *model_args(real_model_dir), "--mode", "single", "multi",
        "--json", str(rows_path), "--detections", str(detections_path),
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["precision", "mode", "scale", "stride", "refinement", *evaluate.METRICS]
    assert len(table) == 3
    rows = json.loads(rows_path.read_text())
    assert [(r["mode"], r["scale"], r["output_stride"], r["precision"]) for r in rows] == [
        ("single", 0.5, 16, "fp32"), ("multi", 0.5, 16, "fp32")
    ]
    assert all(set(evaluate.METRICS) <= set(r) for r in rows)
    # 17 of the 28 photos hold several people: one pose per image cannot find most of them.
    assert rows[1]["AP"] > rows[0]["AP"] and rows[1]["AR"] > rows[0]["AR"]
    single = json.loads((tmp_path / "detections_single_scale0.5_stride16_fp32.json").read_text())
    assert len(single) == 28 and all(len(d["keypoints"]) == 51 for d in single)
    assert (tmp_path / "detections_multi_scale0.5_stride16_fp32_v1.json").is_file()
    assert math.isclose(100 * rows[1]["AP"], float(table[2].split()[5]), abs_tol=0.051)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--annotations", "nope.json", "--images", "."], "no annotation file"),
        (["--annotations", "{photos}/coco17_all.json", "--images", "{tmp}"], "annotated images are not in"),
        (["--annotations", "{photos}/coco17_all.json", "--images", "{photos}", "--scale", "0.1"], "image_scale_factor"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(capsys, shared, real_model_dir, tmp_path, args, message) -> None:
    names = {"{photos}": str(shared / "photos"), "{tmp}": str(tmp_path)}
    for key, value in names.items():
        args = [a.replace(key, value) for a in args]
    assert main(["evaluate", *args, *model_args(real_model_dir, device=None)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("posenet-onnx evaluate: error: ") and message in err and err.count("\n") == 1


def test_no_output_replaces_an_annotated_image(capsys, shared: Path, real_model_dir: Path, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    shutil.copytree(shared / "photos", photos)
    annotations = json.loads((photos / "coco17_all.json").read_text())
    image = photos / annotations["images"][0]["file_name"]
    before = image.read_bytes()
    for option in ("--json", "--detections"):
        argv = ["evaluate", "--annotations", str(photos / "coco17_all.json"), "--images", str(photos), option, str(image)]
        assert main([*argv, *model_args(real_model_dir, device=None)]) == 2
        err = capsys.readouterr().err
        assert f"is the input {image}" in err and err.count("\n") == 1
    assert image.read_bytes() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: [1, 2], "is not COCO keypoint annotations"),
        (lambda d: {**d, "annotations": [{k: v for k, v in a.items() if k != "keypoints"} for a in d["annotations"]]},
         "lacks keypoints"),
        (lambda d: {**d, "annotations": [{**a, "keypoints": a["keypoints"][:30]} for a in d["annotations"]]},
         "has 30 keypoint values; COCO gives 51"),
        (lambda d: {**d, "images": [{k: v for k, v in i.items() if k != "file_name"} for i in d["images"]]},
         "an image record lacks file_name"),
    ],
)
def test_broken_annotations_are_refused_before_any_image_is_estimated(
    capsys, shared: Path, real_model_dir: Path, tmp_path: Path, monkeypatch, change, message
) -> None:
    annotations = tmp_path / "broken.json"
    annotations.write_text(json.dumps(change(json.loads((shared / "photos" / "coco17_all.json").read_text()))))
    monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: pytest.fail("estimated before the annotations were checked"))
    argv = ["evaluate", "--annotations", str(annotations), "--images", str(shared / "photos")]
    assert main([*argv, *model_args(real_model_dir, device=None)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("posenet-onnx evaluate: error: ") and message in err and err.count("\n") == 1
