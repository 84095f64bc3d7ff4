"""Differential test against the original JavaScript decoders (posenet 1.0.3 on tfjs 1.1.2, installed by
`make jsref` in scripts/jsref): random, tied and adversarial outputs must decode to bit-identical poses.

Non-finite numbers cross as strings; JavaScript's ``undefined`` (a read at a NaN index) counts as NaN,
the decoder's documented equivalent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from posenet_onnx.decode import decode_multiple_poses, decode_single_pose
from posenet_onnx.keypoints import PART_NAMES

JSREF = Path(__file__).resolve().parents[1] / "scripts" / "jsref"
pytestmark = pytest.mark.needs_node
NAMES = ("heatmapScores", "offsets", "displacementsFwd", "displacementsBwd")

DECODE_JS = r"""
'use strict';
console.log = console.error;  // keep stdout for the answer
console.warn = console.error;
const fs = require('fs');
const tf = require('@tensorflow/tfjs');
const posenet = require('@tensorflow-models/posenet');
const read = (file, shape) => {
  const bytes = fs.readFileSync(file);
  return tf.tensor3d(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), shape, 'float32');
};
const encode = (key, value) => value === undefined ? 'undefined'
    : (typeof value === 'number' && !Number.isFinite(value)) ? String(value) : value;
async function main() {
  await tf.setBackend('cpu');
  const request = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
  const results = [];
  for (const c of request.cases) {
    const [h, w] = c.grid;
    const t = [read(c.files[0], [h, w, 17]), read(c.files[1], [h, w, 34]),
               read(c.files[2], [h, w, 32]), read(c.files[3], [h, w, 32])];
    results.push({
      single: await posenet.decodeSinglePose(t[0], t[1], c.stride),
      multi: await posenet.decodeMultiplePoses(t[0], t[1], t[2], t[3], c.stride, c.maxDetections, c.scoreThreshold, c.nmsRadius),
    });
  }
  process.stdout.write(JSON.stringify(results, encode));
}
main().catch((error) => { console.error(error.stack || String(error)); process.exit(1); });
"""


def _number(value) -> float:
    return float("nan") if value == "undefined" else float(value)


def _arrays(poses: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """JavaScript poses as (scores, keypoint scores, keypoints (x, y)) arrays."""
    for pose in poses:
        assert [k["part"] for k in pose["keypoints"]] == list(PART_NAMES)
    scores = np.array([_number(p["score"]) for p in poses])
    keypoint_scores = np.array([[_number(k["score"]) for k in p["keypoints"]] for p in poses]).reshape(-1, 17)
    keypoints = np.array(
        [[(_number(k["position"]["x"]), _number(k["position"]["y"])) for k in p["keypoints"]] for p in poses]
    ).reshape(-1, 17, 2)
    return scores, keypoint_scores, keypoints


def _cases(shared: Path) -> list[dict]:
    rng = np.random.default_rng(11)
    folder = shared / "fixtures" / "tennis_in_crowd"
    tennis = [np.fromfile(folder / f"{n}.bin", "<f4").reshape(33, 33, -1) for n in NAMES]
    cases = []

    def add(outputs, stride=16, max_detections=10, threshold=0.5, radius=20.0):
        cases.append({"outputs": [o.astype(np.float32) for o in outputs], "stride": stride,
                      "maxDetections": max_detections, "scoreThreshold": threshold, "nmsRadius": radius})

    def random_outputs(h, w, scores, spread=30.0):
        return [scores((h, w, 17)), rng.normal(0, spread, (h, w, 34)), rng.normal(0, 3 * spread, (h, w, 32)),
                rng.normal(0, 3 * spread, (h, w, 32))]

    # Saturated tennis scores: many exact 1.0 ties across the image.
    add([np.minimum(tennis[0] * 1.3, 1.0), *tennis[1:]], max_detections=20, threshold=0.3)
    add([np.minimum(tennis[0] * 1.3, 1.0), *tennis[1:]], max_detections=15, threshold=0.1, radius=8.0)
    for h, w in [(1, 1), (1, 5), (4, 1), (6, 6), (17, 9)]:
        add(random_outputs(h, w, lambda s: rng.integers(0, 4, s) / 3), stride=8, max_detections=25, threshold=0.0, radius=4.0)
        add(random_outputs(h, w, lambda s: rng.random(s)), stride=32, max_detections=6, threshold=0.4, radius=40.0)
    # Offsets and displacements pointing far outside the grid; exact half-cell positions.
    far = random_outputs(9, 9, lambda s: rng.integers(0, 3, s) / 2)
    far[2] = rng.choice([-1e30, -300.0, 300.0, 3e38], far[2].shape)
    far[1] = rng.integers(-64, 64, far[1].shape) / 2  # multiples of 8 px land on half cells at stride 16
    add(far, max_detections=30, threshold=0.0, radius=1.0)
    # NaN and infinities in every field.
    bad = random_outputs(8, 7, lambda s: rng.random(s))
    for field in bad:
        field[rng.random(field.shape) < 0.05] = np.nan
        field[rng.random(field.shape) < 0.03] = np.inf
        field[rng.random(field.shape) < 0.03] = -np.inf
    add(bad, max_detections=20, threshold=0.2, radius=10.0)
    return cases


@pytest.fixture(scope="module")
def javascript(shared: Path, tmp_path_factory: pytest.TempPathFactory):
    """The cases and what the original decoders return for them."""
    node = shutil.which("node")
    folder = tmp_path_factory.mktemp("jsdecode")
    cases = _cases(shared)
    request = []
    for i, case in enumerate(cases):
        files = []
        for name, array in zip(NAMES, case["outputs"]):
            files.append(str(folder / f"{i}_{name}.bin"))
            array.astype("<f4").tofile(files[-1])
        request.append({"files": files, "grid": list(case["outputs"][0].shape[:2]),
                        **{k: case[k] for k in ("stride", "maxDetections", "scoreThreshold", "nmsRadius")}})
    (folder / "request.json").write_text(json.dumps({"cases": request}))
    run = subprocess.run([node, "-e", DECODE_JS, str(folder / "request.json")], cwd=JSREF,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return cases, json.loads(run.stdout)


def _assert_identical(ours, theirs: list[dict]) -> None:
    scores, keypoint_scores, keypoints = _arrays(theirs)
    assert len(ours) == len(scores)
    np.testing.assert_array_equal(ours.keypoints, keypoints)
    np.testing.assert_array_equal(ours.keypoint_scores, keypoint_scores)
    np.testing.assert_array_equal(ours.scores, scores)


def test_multi_pose_identical_to_javascript(javascript):
    cases, results = javascript
    for i, (case, result) in enumerate(zip(cases, results)):
        ours = decode_multiple_poses(
            *case["outputs"], case["stride"], max_pose_detections=case["maxDetections"],
            score_threshold=case["scoreThreshold"], nms_radius=case["nmsRadius"],
        )
        assert len(ours) > 0, f"case {i} decodes nothing: a weak case"
        try:
            _assert_identical(ours, result["multi"])
        except AssertionError as error:
            raise AssertionError(f"multi-pose case {i}") from error


def test_single_pose_identical_to_javascript(javascript):
    cases, results = javascript
    for i, (case, result) in enumerate(zip(cases, results)):
        ours = decode_single_pose(case["outputs"][0], case["outputs"][1], case["stride"])
        try:
            _assert_identical(ours, [result["single"]])
        except AssertionError as error:
            raise AssertionError(f"single-pose case {i}") from error
