"""Real network outputs (tennis_in_crowd, 33 x 33 at stride 16) decoded exactly as the original JavaScript
decoders did: posenet 1.0.3 (decoded_v1.json, incl. single pose) and 2.2.2 (decoded_v2.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posenet_onnx.decode import (
    DecodedPoses,
    decode_multiple_poses,
    decode_multiple_poses_batch,
    decode_network_outputs,
    decode_single_pose,
    decode_single_pose_batch,
    validate_multi_pose_parameters,
)
from posenet_onnx.keypoints import PART_NAMES

TOLERANCE = 1e-4
CASES = [
    "maxDetections=5,scoreThreshold=0.5,nmsRadius=20",
    "maxDetections=5,scoreThreshold=0.1,nmsRadius=20",
    "maxDetections=10,scoreThreshold=0.5,nmsRadius=20",
    "maxDetections=10,scoreThreshold=0.1,nmsRadius=20",
]


@pytest.fixture(scope="module")
def tennis(shared: Path) -> dict:
    """The four output tensors and both reference files."""
    folder = shared / "fixtures" / "tennis_in_crowd"
    reference = {version: json.loads((folder / f"decoded_{version}.json").read_text()) for version in ("v1", "v2")}
    shapes = reference["v1"]["meta"]["shapes"]
    tensors = {
        name: np.fromfile(folder / f"{name}.bin", dtype="<f4").reshape(shapes[name])
        for name in ("heatmapScores", "offsets", "displacementsFwd", "displacementsBwd")
    }
    return {"tensors": tensors, "reference": reference, "stride": reference["v1"]["meta"]["outputStride"]}


def _multi(tennis: dict, params: dict, refinement: str) -> DecodedPoses:
    t = tennis["tensors"]
    return decode_multiple_poses(
        t["heatmapScores"], t["offsets"], t["displacementsFwd"], t["displacementsBwd"], params["outputStride"],
        max_pose_detections=params["maxDetections"], score_threshold=params["scoreThreshold"],
        nms_radius=params["nmsRadius"], refinement=refinement,
    )


def js_structure(poses: DecodedPoses) -> list[dict]:
    """The poses in upstream's JavaScript structure: ``[{score, keypoints: [{part, score, position: {x, y}}]}]``."""
    return [
        {
            "score": float(poses.scores[p]),
            "keypoints": [
                {
                    "part": name,
                    "score": float(poses.keypoint_scores[p, k]),
                    "position": {"x": float(poses.keypoints[p, k, 0]), "y": float(poses.keypoints[p, k, 1])},
                }
                for k, name in enumerate(PART_NAMES)
            ],
        }
        for p in range(len(poses))
    ]


def assert_same_poses(ours: DecodedPoses, expected: list[dict]) -> None:
    """Same number and order of poses; same parts; positions and scores within TOLERANCE."""
    got = js_structure(ours)
    assert len(got) == len(expected)
    for pose, reference in zip(got, expected):
        assert pose["score"] == pytest.approx(reference["score"], abs=TOLERANCE)
        assert [k["part"] for k in pose["keypoints"]] == [k["part"] for k in reference["keypoints"]]
        for keypoint, ref in zip(pose["keypoints"], reference["keypoints"]):
            assert keypoint["score"] == pytest.approx(ref["score"], abs=TOLERANCE)
            assert keypoint["position"]["x"] == pytest.approx(ref["position"]["x"], abs=TOLERANCE)
            assert keypoint["position"]["y"] == pytest.approx(ref["position"]["y"], abs=TOLERANCE)


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("case", CASES)
def test_multi_pose_equals_javascript(tennis, version, case):
    reference = tennis["reference"][version]["multi"]
    assert set(reference) == set(CASES)  # every parameter set in the file is tested
    assert_same_poses(_multi(tennis, reference[case]["params"], version), reference[case]["poses"])


def test_single_pose_equals_javascript(tennis):
    t = tennis["tensors"]
    pose = decode_single_pose(t["heatmapScores"], t["offsets"], tennis["stride"])
    assert_same_poses(pose, [tennis["reference"]["v1"]["single"]])


def _batch(t: dict) -> dict:
    """Four images: the tennis outputs, mirrored, shifted by a row, and with saturated scores (ties)."""
    saturated = {k: v.copy() for k, v in t.items()}
    saturated["heatmapScores"] = np.minimum(t["heatmapScores"] * 1.2, 1).astype(np.float32)
    variants = [t, {k: v[:, ::-1] for k, v in t.items()}, {k: np.roll(v, 1, axis=0) for k, v in t.items()}, saturated]
    return {name: np.stack([v[name] for v in variants]) for name in t}


@pytest.mark.parametrize("images", [4, 1])  # one image takes the serial kernel
@pytest.mark.parametrize("refinement", ["v1", "v2"])
def test_multi_pose_batch_equals_per_image(tennis, refinement, images):
    batch = _batch(tennis["tensors"])
    arrays = [batch[name][-images:] for name in ("heatmapScores", "offsets", "displacementsFwd", "displacementsBwd")]
    results = decode_multiple_poses_batch(*arrays, 16, max_pose_detections=10, score_threshold=0.25, refinement=refinement)
    assert len(results) == images
    for n, result in enumerate(results):
        single = decode_multiple_poses(*(a[n] for a in arrays), 16, max_pose_detections=10, score_threshold=0.25, refinement=refinement)
        assert len(result) == len(single) > 0
        for field in ("scores", "keypoint_scores", "keypoints"):
            np.testing.assert_array_equal(getattr(result, field), getattr(single, field))


@pytest.mark.parametrize("images", [4, 1])
def test_single_pose_batch_equals_per_image(tennis, images):
    batch = {name: array[-images:] for name, array in _batch(tennis["tensors"]).items()}
    results = decode_single_pose_batch(batch["heatmapScores"], batch["offsets"], 16)
    assert len(results) == images
    for n, result in enumerate(results):
        single = decode_single_pose(batch["heatmapScores"][n], batch["offsets"][n], 16)
        for field in ("scores", "keypoint_scores", "keypoints"):
            np.testing.assert_array_equal(getattr(result, field), getattr(single, field))


def _every_other_column(array: np.ndarray) -> np.ndarray:
    """``array`` as a non-contiguous view: every other column of a twice-as-wide array."""
    wide = np.zeros((array.shape[0], 2 * array.shape[1], array.shape[2]), array.dtype)
    wide[:, ::2] = array
    return wide[:, ::2]


def test_any_float_dtype_and_layout_decodes_the_same(tennis):
    t = tennis["tensors"]
    names = ("heatmapScores", "offsets", "displacementsFwd", "displacementsBwd")
    expected = decode_multiple_poses(*(t[n] for n in names), 16)
    variants = {
        "float64": [t[n].astype(np.float64) for n in names],
        "fortran order": [np.asfortranarray(t[n]) for n in names],
        "strided views": [_every_other_column(t[n]) for n in names],
    }
    for label, arrays in variants.items():
        got = decode_multiple_poses(*arrays, 16)
        for field in ("scores", "keypoint_scores", "keypoints"):
            np.testing.assert_array_equal(getattr(got, field), getattr(expected, field), err_msg=label)


@pytest.mark.parametrize("images", [4, 1])
@pytest.mark.parametrize("layout", ["as onnxruntime returns them", "float64, Fortran order"])
def test_network_outputs_path_equals_the_public_functions(tennis, images, layout):
    """decode_network_outputs (the runtime's path, parameters validated beforehand) gives the same poses for
    ready float32 tensors (its fast check) and for any other layout (the full conversion)."""
    batch = _batch(tennis["tensors"])
    arrays = [batch[name][-images:] for name in ("heatmapScores", "offsets", "displacementsFwd", "displacementsBwd")]
    if layout != "as onnxruntime returns them":
        arrays = [np.asfortranarray(a, dtype=np.float64) for a in arrays]
        assert not arrays[0].flags.c_contiguous
    parameters = validate_multi_pose_parameters(10, 0.25, 20, "v2")
    multi = decode_network_outputs(arrays, 16, parameters)
    single = decode_network_outputs(arrays, 16, None)
    expected_multi = decode_multiple_poses_batch(*arrays, 16, max_pose_detections=10, score_threshold=0.25, refinement="v2")
    expected_single = decode_single_pose_batch(arrays[0], arrays[1], 16)
    for ours, expected in [*zip(multi, expected_multi), *zip(single, expected_single)]:
        assert len(ours) == len(expected) > 0
        for field in ("scores", "keypoint_scores", "keypoints"):
            np.testing.assert_array_equal(getattr(ours, field), getattr(expected, field))


def test_network_outputs_path_still_checks_shapes_and_stride(tennis):
    t = tennis["tensors"]
    arrays = [t[name][np.newaxis] for name in ("heatmapScores", "offsets", "displacementsFwd", "displacementsBwd")]
    parameters = validate_multi_pose_parameters(5, 0.5, 20)
    with pytest.raises(ValueError, match="output stride 12"):
        decode_network_outputs(arrays, 12, parameters)
    # Views and contiguous copies alike fail the ready-batch check and get the public functions' checks.
    for layout in (lambda a: a, np.ascontiguousarray):
        with pytest.raises(ValueError, match="offsets must have 34 channels"):
            decode_network_outputs([arrays[0], layout(arrays[1][..., :30]), *arrays[2:]], 16, parameters)
        with pytest.raises(ValueError, match="must share their batch and grid axes"):
            decode_network_outputs([arrays[0], layout(arrays[1][:, :-1]), *arrays[2:]], 16, parameters)
