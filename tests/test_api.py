"""The public API on the real 0.50 model and real photos: poses on the body, upstream semantics, parameters."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

import posenet_onnx
from posenet_onnx.decode import decode_multiple_poses, decode_single_pose
from posenet_onnx.keypoints import PART_IDS, PART_NAMES
from posenet_onnx.contract import INPUT_NAME, model_filename
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution

# Positions read by eye from the photos, zoomed 2-6x with a labelled 10/25 px grid drawn on them
# (Pillow crop + resize + lines; the grid labels are original-image pixels). Only parts visible in the
# photo are listed: the astronaut's ears are under her hair and her shoulders are hidden in the suit's
# neck ring; in pose.jpg the right eye and ear are behind the profile.
ASTRONAUT_FACE = {"nose": (222, 125), "rightEye": (203, 101), "leftEye": (245, 103)}
POSE_JPG_FACE = {"nose": (459, 285), "leftEye": (471, 274), "leftEar": (497, 278)}
# Joint centres are less sharp than eyes: the tolerance below is ~7 % of the 400 px tall person.
# leftAnkle is left out: the small 0.50 model puts it on the right foot at both strides.
POSE_JPG_BODY = {
    "rightShoulder": (452, 320), "leftShoulder": (542, 312), "rightElbow": (400, 318), "leftElbow": (600, 325),
    "rightWrist": (295, 305), "leftWrist": (700, 312), "rightHip": (460, 465), "leftHip": (530, 465),
    "rightKnee": (350, 485), "leftKnee": (600, 540), "rightAnkle": (345, 615),
}
COUPLE_NOSES = ((213, 150), (405, 150))  # bride, groom
FACE_TOLERANCE = 12
BODY_TOLERANCE = 30


@pytest.fixture(scope="module")
def images(shared: Path) -> dict[str, np.ndarray]:
    return {name: load_image(shared / "images" / name) for name in ("astronaut.png", "couple.jpg", "pose.jpg")}


def _assert_near(pose: posenet_onnx.Pose, expected: dict[str, tuple[float, float]], tolerance: float) -> None:
    for part, (x, y) in expected.items():
        position = pose.keypoints[PART_IDS[part]].position
        distance = np.hypot(position.x - x, position.y - y)
        assert distance <= tolerance, f"{part} at ({position.x:.1f}, {position.y:.1f}), {distance:.1f} px from ({x}, {y})"


# --- poses on real photos ------------------------------------------------------------------------------


@pytest.mark.parametrize("output_stride", [8, 16])
def test_single_pose_finds_the_astronauts_face(net, shared, output_stride) -> None:
    pose = net.estimate_single_pose(shared / "images" / "astronaut.png", output_stride=output_stride)
    _assert_near(pose, ASTRONAUT_FACE, FACE_TOLERANCE)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_single_pose_finds_the_body_parts_in_pose_jpg(net, images, output_stride) -> None:
    pose = net.estimate_single_pose(images["pose.jpg"], output_stride=output_stride)
    assert pose.score > 0.7
    _assert_near(pose, POSE_JPG_FACE, FACE_TOLERANCE)
    _assert_near(pose, POSE_JPG_BODY, BODY_TOLERANCE)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_multi_pose_finds_the_two_people_in_couple_jpg(net, images, output_stride) -> None:
    poses = net.estimate_multiple_poses(images["couple.jpg"], output_stride=output_stride)
    confident = [pose for pose in poses if pose.score > 0.3]
    assert len(confident) == 2
    noses = sorted(pose.keypoints[PART_IDS["nose"]].position.x for pose in confident)
    for x, (expected_x, _) in zip(noses, COUPLE_NOSES):
        assert abs(x - expected_x) <= FACE_TOLERANCE


# --- no hidden transformations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_stride", "scale", "flip"), [(16, 0.5, False), (8, 0.5, True), (16, 0.2, False), (8, 1.0, False), (16, 0.73, True)]
)
def test_results_equal_the_graph_and_decoder_called_directly(net, real_model_dir, images, output_stride, scale, flip) -> None:
    image = images["pose.jpg"]
    height, width = image.shape[:2]
    resized = (valid_resolution(scale, height, output_stride), valid_resolution(scale, width, output_stride))
    network_input = resize_bilinear(image[np.newaxis], *resized, flip_horizontal=flip)
    session = ort.InferenceSession(str(real_model_dir / model_filename(0.5, output_stride)), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    out = {name: value[0] for name, value in zip(names, session.run(None, {INPUT_NAME: network_input}))}
    to_image = np.array([width / resized[1], height / resized[0]])

    single = decode_single_pose(out["heatmap_scores"], out["offsets"], output_stride)
    pose = net.estimate_single_pose(image, scale, flip, output_stride)
    np.testing.assert_array_equal(pose.positions, single.keypoints[0] * to_image)
    np.testing.assert_array_equal(pose.scores, single.keypoint_scores[0])
    assert pose.score == single.scores[0]

    multi = decode_multiple_poses(
        out["heatmap_scores"], out["offsets"], out["displacement_fwd"], out["displacement_bwd"], output_stride, 3, 0.2, 25
    )
    poses = net.estimate_multiple_poses(image, scale, flip, output_stride, 3, 0.2, 25)
    assert len(poses) == len(multi) > 0
    for p, pose in enumerate(poses):
        np.testing.assert_array_equal(pose.positions, multi.keypoints[p] * to_image)
        assert pose.score == multi.scores[p]


def test_refinement_v2_is_posenet_2x_decoder_on_the_same_outputs(net, real_model_dir, images) -> None:
    """`refinement="v2"` reaches the decoder: the poses equal posenet 2.x's decoder called by hand, which
    differ from 1.0.3's (the default) on this photo."""
    image = images["couple.jpg"]
    height, width = image.shape[:2]
    resized = (valid_resolution(0.5, height, 16), valid_resolution(0.5, width, 16))
    session = ort.InferenceSession(str(real_model_dir / model_filename(0.5, 16)), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, (value[0] for value in session.run(None, {INPUT_NAME: resize_bilinear(image[np.newaxis], *resized)}))))
    tensors = [out[name] for name in ("heatmap_scores", "offsets", "displacement_fwd", "displacement_bwd")]
    to_image = np.array([width / resized[1], height / resized[0]])
    expected = decode_multiple_poses(*tensors, 16, refinement="v2")
    poses = net.estimate_multiple_poses(image, refinement="v2")
    assert len(poses) == len(expected) >= 2
    np.testing.assert_array_equal(np.stack([p.positions for p in poses]), expected.keypoints * to_image)
    batch = net.estimate_multiple_poses_batch([image], refinement="v2")[0]
    assert batch == poses != net.estimate_multiple_poses(image)


def test_flip_mirrors_the_image_before_inference(net, images) -> None:
    image = images["pose.jpg"]
    flipped = net.estimate_single_pose(image, flip_horizontal=True)
    mirrored = net.estimate_single_pose(np.ascontiguousarray(image[:, ::-1]))
    assert flipped == mirrored  # upstream 1.0.3: positions and labels of the mirrored person
    plain = net.estimate_single_pose(image)
    width = image.shape[1]
    # The mirrored person's nose is where the real nose is, seen in the mirror.
    assert abs((width - 1 - flipped.keypoints[0].position.x) - plain.keypoints[0].position.x) <= FACE_TOLERANCE


@pytest.mark.parametrize("scale", [0.2, 1.0])
def test_scale_factor_extremes_find_the_pose(net, images, scale) -> None:
    pose = net.estimate_single_pose(images["pose.jpg"], image_scale_factor=scale)
    _assert_near(pose, {"nose": POSE_JPG_FACE["nose"]}, BODY_TOLERANCE)


# --- every parameter matters ------------------------------------------------------------------------------


def test_each_estimation_parameter_changes_the_result(net, images) -> None:
    image = images["couple.jpg"]
    base = net.estimate_multiple_poses(image)
    assert len(base) >= 3
    assert net.estimate_multiple_poses(image, image_scale_factor=0.7) != base
    assert net.estimate_multiple_poses(image, output_stride=8) != base
    assert len(net.estimate_multiple_poses(image, max_pose_detections=2)) == 2
    assert len(net.estimate_multiple_poses(image, score_threshold=0.99)) < len(base)
    assert len(net.estimate_multiple_poses(image, nms_radius=1000)) == 1  # every other root is within the radius
    single = net.estimate_single_pose(image)
    assert net.estimate_single_pose(image, image_scale_factor=0.7) != single
    assert net.estimate_single_pose(image, output_stride=8) != single


def test_defaults_are_upstreams(net, images) -> None:
    image = images["couple.jpg"]
    assert net.estimate_multiple_poses(image) == net.estimate_multiple_poses(image, 0.5, False, 16, 5, 0.5, 20)
    assert net.estimate_single_pose(image) == net.estimate_single_pose(image, 0.5, False, 16)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_scale_factor": 0.19}, r"image_scale_factor must be a number in \[0.2, 1.0\]"),
        ({"image_scale_factor": 1.01}, r"image_scale_factor must be a number in \[0.2, 1.0\]"),
        ({"image_scale_factor": "0.5"}, r"image_scale_factor must be a number"),
        ({"output_stride": 4}, r"expected one of 8, 16 or 32"),
        ({"output_stride": 32}, r"Multiplier 0.50 cannot run at output stride 32"),
        ({"max_pose_detections": 0}, r"max_pose_detections must be an integer >= 1"),
        ({"max_pose_detections": 2.0}, r"max_pose_detections must be an integer >= 1"),
        ({"score_threshold": 1.5}, r"score_threshold must be a number in \[0, 1\]"),
        ({"score_threshold": float("nan")}, r"score_threshold must be a number in \[0, 1\]"),
        ({"nms_radius": 0}, r"nms_radius must be a number > 0"),
        ({"nms_radius": "20"}, r"nms_radius must be a number > 0"),
    ],
)
def test_bad_parameters_raise_before_the_network_runs(net, images, kwargs, message, monkeypatch) -> None:
    net.estimate_single_pose(images["couple.jpg"])  # the stride-16 session is open: only the run is left
    calls = []
    run = ort.InferenceSession.run
    monkeypatch.setattr(ort.InferenceSession, "run", lambda self, *a, **k: calls.append(1) or run(self, *a, **k))
    with pytest.raises(ValueError, match=message):
        net.estimate_multiple_poses(images["couple.jpg"], **kwargs)
    with pytest.raises(ValueError, match=message):
        net.estimate_multiple_poses_batch([images["couple.jpg"]], **kwargs)
    assert calls == []


def test_bad_load_arguments_raise_clear_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="valid multipliers are 0.50, 0.75, 1.00, 1.01"):
        posenet_onnx.load(0.3)
    with pytest.raises(ValueError, match="expected one of auto, cpu, cuda"):
        posenet_onnx.load(0.5, device="tpu")
    with pytest.raises(ValueError, match="providers must be a non-empty list"):
        posenet_onnx.load(0.5, providers="CPUExecutionProvider")
    for threads in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"intra_op_threads must be None \(.*\) or an integer from 1 to 1024; got "):
            posenet_onnx.load(0.5, intra_op_threads=threads)
    with pytest.raises(ValueError, match="allow_spinning must be True or False; got 0"):
        posenet_onnx.load(0.5, allow_spinning=0)


# --- finding, exporting and checking graphs ----------------------------------------------------------------


def test_model_dir_defaults_to_the_environment(monkeypatch, real_model_dir, images, net) -> None:
    monkeypatch.setenv("POSENET_ONNX_MODEL_DIR", str(real_model_dir))
    from_env = posenet_onnx.load(0.5, device="cpu")
    assert from_env.model_dir == real_model_dir
    assert from_env.estimate_single_pose(images["couple.jpg"]) == net.estimate_single_pose(images["couple.jpg"])


def test_missing_graph_without_tensorflow_names_the_export_command(monkeypatch, tmp_path, images) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else find_spec(name, *a))
    net = posenet_onnx.load(0.5, model_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"posenet-onnx export --multiplier 0.50 --output-stride 8 -o "):
        net.estimate_single_pose(images["couple.jpg"], output_stride=8)
    assert list(tmp_path.iterdir()) == []


def test_missing_graph_is_exported_from_the_checkpoint_dir(tmp_path, checkpoint_dir, images, net) -> None:
    exporting = posenet_onnx.load(0.5, model_dir=tmp_path, checkpoint_dir=checkpoint_dir, device="cpu")
    pose = exporting.estimate_single_pose(images["couple.jpg"])
    assert (tmp_path / model_filename(0.5, 16)).is_file()
    assert pose == net.estimate_single_pose(images["couple.jpg"])


def test_a_graph_with_other_metadata_is_refused(tmp_path, real_model_dir, images) -> None:
    # The stride-16 graph saved under the stride-8 name: its metadata gives it away.
    (tmp_path / model_filename(0.5, 8)).write_bytes((real_model_dir / model_filename(0.5, 16)).read_bytes())
    net = posenet_onnx.load(0.5, model_dir=tmp_path, device="cpu")
    with pytest.raises(ValueError, match="holds multiplier 0.50 at output stride 16"):
        net.estimate_single_pose(images["couple.jpg"], output_stride=8)


# --- batches ---------------------------------------------------------------------------------------------


def test_batches_equal_single_calls_with_one_session_call_per_size(net, images, monkeypatch) -> None:
    couple, pose_jpg = images["couple.jpg"], images["pose.jpg"]
    mirrored = np.ascontiguousarray(couple[:, ::-1])
    batch = [couple, pose_jpg, mirrored]
    calls = []
    run = ort.InferenceSession.run
    monkeypatch.setattr(ort.InferenceSession, "run", lambda self, *a, **k: calls.append(a[1][INPUT_NAME].shape) or run(self, *a, **k))
    multi = net.estimate_multiple_poses_batch(batch, 0.6, True, 8, 4, 0.3, 15)
    single = net.estimate_single_pose_batch(batch, 0.6, True, 8)
    assert [shape[0] for shape in calls] == [2, 1, 2, 1]  # same-size images share one call, in first-seen order
    monkeypatch.undo()
    assert multi == [net.estimate_multiple_poses(image, 0.6, True, 8, 4, 0.3, 15) for image in batch]
    assert single == [net.estimate_single_pose(image, 0.6, True, 8) for image in batch]
    stacked = np.stack([couple, mirrored])
    assert net.estimate_single_pose_batch(stacked, 0.6, True, 8) == [single[0], single[2]]


def test_batch_errors(net, images) -> None:
    with pytest.raises(ValueError, match="the batch is empty"):
        net.estimate_single_pose_batch([])
    with pytest.raises(ValueError, match="a batch array must be N x H x W x C"):
        net.estimate_single_pose_batch(images["couple.jpg"])
    with pytest.raises(ValueError, match="expected a sequence of images"):
        net.estimate_single_pose_batch("couple.jpg")


# --- image inputs ------------------------------------------------------------------------------------------


def test_every_image_form_gives_the_same_pose(net, shared, images) -> None:
    rgb = images["couple.jpg"]
    expected = net.estimate_single_pose(rgb)
    path = shared / "images" / "couple.jpg"
    assert net.estimate_single_pose(path) == expected
    assert net.estimate_single_pose(str(path)) == expected
    assert net.estimate_single_pose(Image.fromarray(rgb)) == expected
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    assert net.estimate_single_pose(rgba) == expected  # alpha dropped, like tf.browser.fromPixels
    assert net.estimate_single_pose(rgb.astype(np.float32)) == expected
    assert net.estimate_single_pose(rgb.astype(np.int64)) == expected


def test_grayscale_is_spread_over_the_three_channels(net, images) -> None:
    gray = np.asarray(Image.fromarray(images["couple.jpg"]).convert("L"))
    expected = net.estimate_single_pose(np.repeat(gray[:, :, np.newaxis], 3, axis=2))
    assert net.estimate_single_pose(gray) == expected
    assert net.estimate_single_pose(gray[:, :, np.newaxis]) == expected
    assert net.estimate_single_pose(Image.fromarray(gray)) == expected


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 3), dtype=np.complex64), "unsupported pixel type complex64"),
        (np.zeros((10, 10, 3), dtype=bool), "unsupported pixel type bool"),
        (np.zeros((10, 10, 2), dtype=np.uint8), "must be H x W x 3"),
        (np.zeros((2, 10, 10, 3), dtype=np.uint8), "must be H x W x 3"),
        (np.zeros((0, 10, 3), dtype=np.uint8), "the image is empty"),
        (np.full((10, 10, 3), np.nan, dtype=np.float32), "NaN or infinite"),
        (np.full((10, 10, 3), 300.0), r"must lie in \[0, 255\]"),
        (np.full((10, 10, 3), -1, dtype=np.int16), r"must lie in \[0, 255\]"),
        ([[1, 2, 3]], "unsupported image type list"),
    ],
)
def test_bad_images_raise_clear_errors(net, image, message) -> None:
    with pytest.raises(ValueError, match=message):
        net.estimate_single_pose(image)


def test_unreadable_files_raise_clear_errors(net, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="image file not found"):
        net.estimate_single_pose(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="cannot read .* as an image"):
        net.estimate_single_pose(tmp_path / "notes.jpg")


# --- results -------------------------------------------------------------------------------------------------


def test_pose_values_arrays_and_json_shape(net, images) -> None:
    pose = net.estimate_single_pose(images["pose.jpg"])
    assert [k.part for k in pose.keypoints] == list(PART_NAMES)
    assert pose.positions.shape == (17, 2) and pose.scores.shape == (17,)
    assert pose.positions[9].tolist() == [pose.keypoints[9].position.x, pose.keypoints[9].position.y]
    assert pose.score == pytest.approx(pose.scores.mean())  # upstream: the mean of the keypoint scores
    as_dict = json.loads(json.dumps(pose.to_dict()))
    assert list(as_dict) == ["score", "keypoints"]
    assert [list(k) for k in as_dict["keypoints"]] == [["score", "part", "position"]] * 17
    assert all(list(k["position"]) == ["x", "y"] for k in as_dict["keypoints"])
    assert as_dict["keypoints"][9]["position"]["x"] == pose.keypoints[9].position.x
    # The fast construction gives the same value objects as their constructors: equal, hashable, frozen, plain floats.
    position = posenet_onnx.Position
    keypoints = [posenet_onnx.Keypoint(k.score, k.part, position(k.position.x, k.position.y)) for k in pose.keypoints]
    built = posenet_onnx.Pose(pose.score, tuple(keypoints))
    assert pose == built and hash(pose) == hash(built) and repr(pose) == repr(built)
    assert {type(pose.score), type(pose.keypoints[0].score), type(pose.keypoints[0].position.y)} == {float}
    with pytest.raises(dataclasses.FrozenInstanceError):
        pose.keypoints[0].position.x = 0.0


def test_upstream_utilities(net, images) -> None:
    pose = net.estimate_single_pose(images["pose.jpg"])
    keypoints = pose.keypoints
    assert posenet_onnx.part_names == PART_NAMES and posenet_onnx.part_ids["leftWrist"] == 9
    assert posenet_onnx.pose_chain[0] == ("nose", "leftEye") and len(posenet_onnx.pose_chain) == 16
    pairs = posenet_onnx.get_adjacent_keypoints(keypoints, 0.0)
    assert [(a.part, b.part) for a, b in pairs][:2] == [("leftHip", "leftShoulder"), ("leftElbow", "leftShoulder")]
    assert len(pairs) == 12
    threshold = 0.6  # drops the pairs touching a weaker part
    kept = posenet_onnx.get_adjacent_keypoints(keypoints, threshold)
    assert kept == [(a, b) for a, b in pairs if a.score >= threshold and b.score >= threshold] and len(kept) < 12
    box = posenet_onnx.get_bounding_box(keypoints)
    assert (box.min_x, box.max_x) == (pose.positions[:, 0].min(), pose.positions[:, 0].max())
    assert (box.min_y, box.max_y) == (pose.positions[:, 1].min(), pose.positions[:, 1].max())
    corners = posenet_onnx.get_bounding_box_points(keypoints)
    assert [(c.x, c.y) for c in corners] == [
        (box.min_x, box.min_y), (box.max_x, box.min_y), (box.max_x, box.max_y), (box.min_x, box.max_y)
    ]
    scaled = posenet_onnx.scale_pose(pose, 2.0, 0.5)
    np.testing.assert_array_equal(scaled.positions, pose.positions * [0.5, 2.0])
    assert scaled.score == pose.score and np.array_equal(scaled.scores, pose.scores)


# --- drawing ------------------------------------------------------------------------------------------------


def test_draw_poses_marks_keypoints_and_skeleton(net, images) -> None:
    image = images["pose.jpg"]
    pose = net.estimate_single_pose(image)
    drawn = np.asarray(posenet_onnx.draw_poses(image, [pose]))
    assert drawn.shape == image.shape and not np.array_equal(drawn, image)
    aqua = [0, 255, 255]  # upstream demo's colour
    nose = pose.keypoints[0].position
    assert drawn[round(nose.y), round(nose.x)].tolist() == aqua
    shoulder, hip = pose.keypoints[PART_IDS["leftShoulder"]].position, pose.keypoints[PART_IDS["leftHip"]].position
    x, y = round((shoulder.x + hip.x) / 2), round((shoulder.y + hip.y) / 2)
    assert (drawn[y - 1 : y + 2, x - 1 : x + 2] == aqua).all(axis=2).any()  # the skeleton line passes here


def _two_part_pose(pose_score: float) -> posenet_onnx.Pose:
    """leftShoulder (score 0.9) at (50, 50) above leftHip (score 0.5) at (50, 150); the rest score 0 at (150, 150)."""
    scores = np.zeros(17)
    positions = np.full((17, 2), 150.0)
    scores[[PART_IDS["leftShoulder"], PART_IDS["leftHip"]]] = 0.9, 0.5
    positions[[PART_IDS["leftShoulder"], PART_IDS["leftHip"]]] = (50, 50), (50, 150)
    return posenet_onnx.Pose.from_arrays(pose_score, scores, positions, PART_NAMES)


def test_draw_poses_parameters() -> None:
    canvas = np.zeros((200, 200, 3), np.uint8)
    pose = _two_part_pose(0.3)
    red = [255, 0, 0]

    def colour(drawn: Image.Image, x: int, y: int) -> list[int]:
        return np.asarray(drawn)[y, x].tolist()

    drawn = posenet_onnx.draw_poses(canvas, [pose], color=(255, 0, 0))
    assert colour(drawn, 50, 50) == red and colour(drawn, 50, 150) == red and colour(drawn, 50, 100) == red
    assert colour(drawn, 150, 150) == [0, 0, 0]  # parts below min_part_confidence (0.1) are not drawn
    weak_hip = posenet_onnx.draw_poses(canvas, [pose], color=(255, 0, 0), min_part_confidence=0.6)
    assert colour(weak_hip, 50, 50) == red and colour(weak_hip, 50, 150) == [0, 0, 0] and colour(weak_hip, 50, 100) == [0, 0, 0]
    assert not np.asarray(posenet_onnx.draw_poses(canvas, [pose], min_pose_confidence=0.4)).any()
    assert colour(posenet_onnx.draw_poses(canvas, [pose], color=red, radius=6), 55, 50) == red
    assert colour(posenet_onnx.draw_poses(canvas, [pose], color=red, radius=2), 55, 50) == [0, 0, 0]
    assert colour(posenet_onnx.draw_poses(canvas, [pose], color=red, line_width=7), 52, 100) == red
    assert colour(posenet_onnx.draw_poses(canvas, [pose], color=red, line_width=1), 52, 100) == [0, 0, 0]


# --- import cost -------------------------------------------------------------------------------------------


def test_the_runtime_never_imports_tensorflow(real_model_dir, shared) -> None:
    code = f"""
import sys
import posenet_onnx
assert "onnxruntime" not in sys.modules and "numba" not in sys.modules, "import posenet_onnx must stay light"
net = posenet_onnx.load(0.5, model_dir={str(real_model_dir)!r})
poses = net.estimate_multiple_poses({str(shared / "images" / "couple.jpg")!r})
assert len(poses) >= 2
heavy = sorted(name for name in ("tensorflow", "tf2onnx", "onnx") if name in sys.modules)
assert not heavy, heavy
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # and nothing on the user's terminal: no onnxruntime or numba noise
