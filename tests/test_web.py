"""The web site in a real browser: `posenet-onnx web` builds the site from the real 0.50 checkpoint,
`posenet-onnx web --serve` serves it, and Debian's headless Chromium (puppeteer-core, scripts/web) loads it.

posenet.js on real photos gives the poses the Python API gives (flipped and not, output strides 8 and 16),
from the same decoded pixels; the demo page runs on Chromium's fake camera fed a real clip and draws the
skeletons; no request leaves the site's origin and the pages log no error. Node, Chromium and the server are
started by the tests."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from posenet_onnx.cli import main
from posenet_onnx.contract import (
    INPUT_NAME,
    MULTI_GRAPH_OUTPUTS,
    MULTI_GRAPH_PARAMETERS,
    SCALE_FACTOR_NAME,
    SINGLE_GRAPH_OUTPUTS,
    model_filename,
)
from posenet_onnx.runtime.images import load_image
from support.browser import ONNXRUNTIME_WEB, add_harness, fake_camera_clip, run_script, served
from support.runtimes import PHOTOS

pytestmark = [pytest.mark.needs_browser, pytest.mark.needs_tensorflow, pytest.mark.slow]

# Beyond the deployment photos: more people, other sizes (relative to the shared data folder).
MORE_PHOTOS = ("photos/mmpose_crowdpose/103319.jpg", "photos/mmpose_aic/054d9ce9201beffc76e5ff2169d2af2f027002ca.jpg")
MEDIAN_PX, P99_PX = 0.01, 0.5  # keypoint shifts allowed between the browser and Python
SCORE_ATOL = 1e-3
# The demo's skeleton colour, aqua (0, 255, 255), as the screenshot shows it (anti-aliased edges excluded).
AQUA_MIN_PIXELS = 500


@pytest.fixture(scope="module")
def site(real_model_dir, checkpoint_dir, tmp_path_factory):
    """The site the CLI builds for multiplier 0.50 at output strides 8 and 16 (the single- and multi-pose graphs
    exported into the session's model folder on the way)."""
    site = tmp_path_factory.mktemp("web") / "site"
    argv = [
        "web", "-o", str(site), "--multiplier", "0.5", "--output-stride", "8", "16", "--model-dir", str(real_model_dir),
        "--checkpoint-dir", str(checkpoint_dir), "--onnxruntime-web", str(ONNXRUNTIME_WEB),
    ]
    assert main(argv) == 0
    return site


def assert_clean(record: dict) -> None:
    """Every request stayed on the site's origin and succeeded; the page logged no error."""
    assert record["offOrigin"] == []
    assert record["failed"] == []
    assert record["consoleErrors"] == []
    assert record["pageErrors"] == []


def parity_cases(photos: dict, algorithms=("single", "multi")) -> list[dict]:
    cases = []
    for url in photos.values():
        for algorithm in algorithms:
            for stride in (8, 16):
                for flip in (False, True):
                    cases.append({
                        "image": url, "algorithm": algorithm, "imageScaleFactor": 0.5, "flipHorizontal": flip,
                        "outputStride": stride, "maxDetections": 5, "scoreThreshold": 0.5, "nmsRadius": 20,
                    })
    first = next(iter(photos.values()))  # other parameters once: a larger scale, a permissive decoder
    cases.append({**cases[0], "image": first, "algorithm": "multi", "imageScaleFactor": 1.0, "maxDetections": 10,
                  "scoreThreshold": 0.1, "nmsRadius": 30})
    return cases


def python_poses(net, image: np.ndarray, case: dict) -> list:
    if case["algorithm"] == "single":
        return [net.estimate_single_pose(image, case["imageScaleFactor"], case["flipHorizontal"], case["outputStride"])]
    return net.estimate_multiple_poses(
        image, case["imageScaleFactor"], case["flipHorizontal"], case["outputStride"], case["maxDetections"],
        case["scoreThreshold"], case["nmsRadius"],
    )


_SESSIONS: dict = {}


def graph_poses(site, image: np.ndarray, case: dict) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(score, keypoints, keypoint scores) of each pose the site's graph gives on onnxruntime (Python, CPU), the
    picture mirrored first for flipHorizontal."""
    import onnxruntime as ort

    path = site / "models" / model_filename(0.50, case["outputStride"], decoder=case["algorithm"])
    if path not in _SESSIONS:
        _SESSIONS[path] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    pixels = np.ascontiguousarray(image[:, ::-1] if case["flipHorizontal"] else image)[np.newaxis]
    feed = {INPUT_NAME: pixels, SCALE_FACTOR_NAME: np.array(case["imageScaleFactor"], np.float32)}
    if case["algorithm"] == "single":
        keypoints, keypoint_scores, scores = _SESSIONS[path].run(list(SINGLE_GRAPH_OUTPUTS), feed)
        return [(scores[0], keypoints[0], keypoint_scores[0])]
    values = (np.array(case["maxDetections"], np.int64), np.array(case["scoreThreshold"], np.float32),
              np.array(case["nmsRadius"], np.float32))
    feed.update(zip(MULTI_GRAPH_PARAMETERS, values))
    keypoints, keypoint_scores, scores, count = _SESSIONS[path].run(list(MULTI_GRAPH_OUTPUTS), feed)
    return [(scores[0, p], keypoints[0, p], keypoint_scores[0, p]) for p in range(int(count[0]))]


def test_posenet_js_gives_the_python_poses(site, shared, net):
    """The same number of poses as the Python API, keypoints within 0.01 px at the median and 0.5 px at the 99th
    percentile; and what the site's graph gives on onnxruntime in Python, to 0.01 px and 1e-3 in scores."""
    paths = [shared / name for name in (*PHOTOS, *MORE_PHOTOS)]
    in_site = add_harness(site, paths)
    with served(site) as base:
        photos = {path: base + url for path, url in in_site.items()}
        cases = parity_cases(photos)
        bad_calls = [
            {"method": "load", "args": [0.3]},
            {"method": "load", "args": [1.01]},
            {"method": "estimateSinglePose", "args": [0.1]},
            {"method": "estimateSinglePose", "args": [0.5, False, 32]},
            {"method": "estimateMultiplePoses", "args": [0.5, False, 16, 0]},
        ]
        request = {"site": base, "page": f"{base}harness/index.html", "multiplier": 0.5, "cases": cases,
                   "pixels": list(photos.values()), "badCalls": bad_calls}
        answer = run_script("estimate.js", request)

    environment = answer["environment"]
    assert environment["crossOriginIsolated"] is True  # the server's COOP/COEP headers: threads allowed
    assert environment["numThreads"] == min(4, environment["hardwareConcurrency"])
    assert_clean(answer["record"])
    images = {path: load_image(path) for path in paths}
    for path, url in photos.items():  # the browser decodes each photo to the pixels Python reads
        decoded = answer["pixels"][url]
        rgba = np.frombuffer(base64.b64decode(decoded["rgba"]), np.uint8).reshape(decoded["height"], decoded["width"], 4)
        np.testing.assert_array_equal(rgba[..., :3], images[path])

    shifts, graph_shifts, counts = [], [], 0
    by_url = {url: path for path, url in photos.items()}
    for case, got in zip(cases, answer["results"], strict=True):
        image = images[by_url[case["image"]]]
        expected = python_poses(net, image, case)
        assert len(got) == len(expected), case
        counts += len(expected)
        same_graph = graph_poses(site, image, case)  # the site's graph on onnxruntime in Python
        assert len(got) == len(same_graph), case
        for pose, reference, (score, keypoints, keypoint_scores) in zip(got, expected, same_graph):
            assert [k["part"] for k in pose["keypoints"]] == [k.part for k in reference.keypoints]
            positions = np.array([[k["position"]["x"], k["position"]["y"]] for k in pose["keypoints"]])
            shifts.append(np.linalg.norm(positions - reference.positions, axis=1))
            graph_shifts.append(np.linalg.norm(positions - keypoints, axis=1))
            assert abs(pose["score"] - score) <= SCORE_ATOL, case
            np.testing.assert_allclose([k["score"] for k in pose["keypoints"]], keypoint_scores, atol=SCORE_ATOL)
    assert counts >= len(cases), "real people should be found"
    shifts = np.concatenate(shifts)
    assert np.median(shifts) <= MEDIAN_PX
    assert np.percentile(shifts, 99) <= P99_PX
    assert np.concatenate(graph_shifts).max() <= MEDIAN_PX  # posenet.js adds nothing to the graph's arithmetic

    errors = answer["errors"]
    assert "multiplier 0.3 is invalid" in errors[0]
    assert "no model for multiplier 1.01" in errors[1] and "0.5" in errors[1]
    assert "imageScaleFactor 0.1" in errors[2]
    assert "output stride 32" in errors[3] and "--output-stride 32" in errors[3]
    assert "maxDetections 0" in errors[4]


def aqua_pixels(png) -> int:
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int(((rgb[..., 0] < 60) & (rgb[..., 1] > 200) & (rgb[..., 2] > 200)).sum())


def test_demo_page_draws_skeletons_on_the_fake_camera(site, shared, tmp_path):
    clip = fake_camera_clip(shared / "images" / "pose_squats.mp4", tmp_path / "squats.y4m")
    drawn, bare = tmp_path / "drawn.png", tmp_path / "bare.png"
    with served(site) as base:
        answer = run_script("camera.js", {"site": base, "clip": str(clip), "frames": 5, "drawn": str(drawn), "bare": str(bare)})
    assert answer["frames"] >= 8
    assert answer["message"] == ""  # the camera was granted; nothing went wrong
    assert " fps" in answer["fps"] and "cross-origin isolated" in answer["runtime"]
    assert_clean(answer["record"])
    drawn_aqua, bare_aqua = aqua_pixels(drawn), aqua_pixels(bare)
    assert drawn_aqua >= AQUA_MIN_PIXELS, "skeletons and keypoints should be drawn over the person"
    assert bare_aqua * 20 <= drawn_aqua, "with skeleton and points switched off, the aqua is the drawing's"
