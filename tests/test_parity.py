"""End-to-end parity with the original: @tensorflow-models/posenet 1.0.3 on tfjs 1.1.2 (Node, CPU backend).

Both sides get the same RGB pixels and parameters; the original loads the same checkpoint (the real 0.50
and 0.75 ones) from ../shared/posenet/checkpoints (scripts/jsref/estimate.js). Every keypoint must land
within half a pixel of the original's, for both algorithms at output strides 8 and 16. Install the
reference with `make jsref` (npm install in scripts/jsref).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import posenet_onnx
from posenet_onnx.runtime.images import load_image

JSREF = Path(__file__).resolve().parents[1] / "scripts" / "jsref"
pytestmark = [pytest.mark.needs_node, pytest.mark.slow]
TOLERANCE_PX = 0.5

# (algorithm, output stride, image scale factor, flip). tfjs's pure-JS CPU backend is slow, so the
# full matrix (both algorithms at strides 8 and 16) runs on the smaller photos, scale 1.0 and the mirror
# on the smallest, and the two larger pictures at the default stride and scale 0.2.
MATRIX = [(algorithm, stride, 0.5, False) for algorithm in ("single", "multi") for stride in (8, 16)]
SCALE_ONE_AND_MIRROR = [("multi", 16, 1.0, False), ("multi", 8, 0.5, True), ("single", 16, 0.5, True)]
DEFAULT_STRIDE = [("single", 16, 0.5, False), ("multi", 16, 0.5, False)]
SCALE_MIN = [("multi", 16, 0.2, False), ("single", 8, 0.2, False)]
CASES = {
    "images/couple.jpg": MATRIX,  # two people, 640 x 480
    "photos/mmpose_coco/000000040083.jpg": MATRIX,  # three people, 500 x 333
    "photos/mmpose_mhp/10084.jpg": MATRIX + SCALE_ONE_AND_MIRROR,  # two people, 298 x 299
    "images/astronaut.png": DEFAULT_STRIDE,  # one person, 512 x 512
    "images/pose.jpg": DEFAULT_STRIDE + SCALE_MIN,  # one person full body, 1000 x 667
}
# The 0.75 checkpoint (about twice 0.50's cost in tfjs's CPU backend): both algorithms at both strides on
# the two smaller photos, the mirror and scale 1.0 on the smallest.
CASES_075 = {
    "photos/mmpose_coco/000000040083.jpg": MATRIX,
    "photos/mmpose_mhp/10084.jpg": MATRIX + SCALE_ONE_AND_MIRROR,
}
MULTI = {"maxDetections": 5, "scoreThreshold": 0.5, "nmsRadius": 20}


def _cases(shared: Path, pixel_dir: Path, chosen: dict[str, list]) -> list[dict]:
    cases = []
    for index, (name, settings) in enumerate(chosen.items()):
        image = load_image(shared / name)
        pixels = pixel_dir / f"{index}.rgb"
        image.tofile(pixels)
        for algorithm, stride, scale, flip in settings:
            cases.append({
                "name": name, "pixels": str(pixels), "height": image.shape[0], "width": image.shape[1],
                "algorithm": algorithm, "outputStride": stride, "imageScaleFactor": scale, "flipHorizontal": flip,
                **MULTI,
            })
    return cases


@pytest.fixture(scope="module", params=[0.5, 0.75], ids=["0.50", "0.75"])
def reference(
    request: pytest.FixtureRequest, shared: Path, checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[float, list[dict], list]:
    """The multiplier, the cases and the original package's poses for them."""
    multiplier = request.param
    node = shutil.which("node")
    work = tmp_path_factory.mktemp("jsref")
    cases = _cases(shared, work, CASES if multiplier == 0.5 else CASES_075)
    request_file = work / "request.json"
    request_file.write_text(json.dumps({"checkpointDir": str(checkpoint_dir), "multiplier": multiplier, "cases": cases}))
    done = subprocess.run([node, str(JSREF / "estimate.js"), str(request_file)], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"the JavaScript reference failed:\n{done.stderr[-3000:]}")
    answer = json.loads(done.stdout)
    assert answer["backend"] == "cpu" and answer["tfjs"] == "1.1.2"
    return multiplier, cases, answer["results"]


@pytest.fixture(scope="module")
def model_dir_075(checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real 0.75 checkpoint (62 of its manifest's 70 files: the unused `*_1` heads are absent) exported at
    output strides 8 and 16."""
    from posenet_onnx.export import export_model

    model_dir = tmp_path_factory.mktemp("models_075")
    for output_stride in (8, 16):
        export_model(0.75, output_stride, model_dir, checkpoint_dir=checkpoint_dir)
    return model_dir


def test_the_original_sees_real_people(reference: tuple[float, list[dict], list]) -> None:
    """Guard against a vacuous comparison: the reference finds a confident pose in every case."""
    _, cases, results = reference
    assert all(max((pose["score"] for pose in poses), default=0) > 0.3 for poses in results)


def test_keypoints_match_the_original_within_half_a_pixel(
    request: pytest.FixtureRequest, reference: tuple[float, list[dict], list]
) -> None:
    multiplier, cases, results = reference
    model_dir = request.getfixturevalue("real_model_dir" if multiplier == 0.5 else "model_dir_075")
    net = posenet_onnx.load(multiplier, model_dir=model_dir, device="cpu")
    worst = 0.0
    for case, expected in zip(cases, results):
        image = np.fromfile(case["pixels"], dtype=np.uint8).reshape(case["height"], case["width"], 3)
        common = (image, case["imageScaleFactor"], case["flipHorizontal"], case["outputStride"])
        if case["algorithm"] == "single":
            poses = [net.estimate_single_pose(*common)]
        else:
            poses = net.estimate_multiple_poses(*common, case["maxDetections"], case["scoreThreshold"], case["nmsRadius"])
        label = {k: case[k] for k in ("name", "algorithm", "outputStride", "imageScaleFactor", "flipHorizontal")}
        assert len(poses) == len(expected), label
        for pose, reference_pose in zip(poses, expected):
            assert [k.part for k in pose.keypoints] == [k["part"] for k in reference_pose["keypoints"]], label
            reference_positions = np.array([(k["position"]["x"], k["position"]["y"]) for k in reference_pose["keypoints"]])
            reference_scores = np.array([k["score"] for k in reference_pose["keypoints"]])
            error = np.abs(pose.positions - reference_positions).max()
            worst = max(worst, error)
            assert error <= TOLERANCE_PX, (label, error)
            np.testing.assert_allclose(pose.scores, reference_scores, atol=1e-4, err_msg=str(label))
            assert pose.score == pytest.approx(reference_pose["score"], abs=1e-4), label
    print(f"{multiplier:.2f}: largest keypoint difference from the original over {len(cases)} cases: {worst:.2e} px")
