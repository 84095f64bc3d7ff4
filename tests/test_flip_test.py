"""The flip test on the real 0.50 model and real photos: the mirror's outputs mirrored back line up with the
image's own, a mirrored image gets the mirrored poses, the two views go through one session call, the
flip test raises the accuracy on the annotated photos, and `flip_test=False` is the original's path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posenet_onnx.decode import decode_multiple_poses, decode_single_pose
from posenet_onnx.keypoints import MIRRORED_EDGE_IDS, MIRRORED_PART_IDS, NUM_KEYPOINTS, PART_NAMES, POSE_CHAIN
from posenet_onnx.runtime.evaluation import coco
from posenet_onnx.runtime.flip_test import average_with_mirrors, mirror_back, with_mirrors
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution
from posenet_onnx.runtime.settings import EstimateSettings

K = NUM_KEYPOINTS
PHOTOS = ("images/couple.jpg", "images/pose.jpg", "photos/mmpose_coco/000000040083.jpg")


@pytest.fixture(scope="module")
def photos(shared: Path) -> dict[str, np.ndarray]:
    return {name: load_image(shared / name) for name in PHOTOS}


def _network_input(image: np.ndarray, scale: float, stride: int) -> np.ndarray:
    height, width = image.shape[:2]
    return resize_bilinear(image[np.newaxis], valid_resolution(scale, height, stride), valid_resolution(scale, width, stride))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_the_mirror_tables_swap_left_and_right() -> None:
    """Each part and edge maps to its left-right twin (the nose to itself), and mirroring twice is the identity."""
    for part, mirrored in zip(PART_NAMES, MIRRORED_PART_IDS):
        twin = part.replace("left", "#").replace("right", "left").replace("#", "right")
        assert PART_NAMES[mirrored] == twin
    for (parent, child), mirrored in zip(POSE_CHAIN, MIRRORED_EDGE_IDS):
        assert POSE_CHAIN[mirrored] == (PART_NAMES[MIRRORED_PART_IDS[PART_NAMES.index(parent)]],
                                        PART_NAMES[MIRRORED_PART_IDS[PART_NAMES.index(child)]])
    assert (MIRRORED_PART_IDS[MIRRORED_PART_IDS] == np.arange(K)).all()
    assert (MIRRORED_EDGE_IDS[MIRRORED_EDGE_IDS] == np.arange(len(POSE_CHAIN))).all()


@pytest.mark.parametrize("stride", [8, 16])
@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_mirrored_back_outputs_line_up_with_the_image_s_own(net, photos, stride, scale) -> None:
    """The real network on a photo and on its mirror: mirrored back, the mirror's outputs agree with the
    photo's own about as well as the network's y offsets do (y is untouched by a mirror, so their
    disagreement is the network's own left-right inconsistency: the yardstick), and far better than the
    mistakes the mapping guards against (x offsets not negated, parts not swapped, grid not flipped)."""
    network = net.network(stride)
    for name, image in photos.items():
        outputs = network.run(with_mirrors(_network_input(image, scale, stride)))
        own = [output[0] for output in outputs]
        back = [output[0] for output in mirror_back([output[1:2] for output in outputs])]
        confident = (own[0] > 0.5) & (back[0] > 0.5)  # cells where both views see the part
        assert confident.sum() >= 30, name
        dy, dy_back = own[1][..., :K][confident], back[1][..., :K][confident]
        dx, dx_back = own[1][..., K:][confident], back[1][..., K:][confident]
        yardstick = np.median(np.abs(dy - dy_back))
        label = (name, stride, scale)
        assert np.median(np.abs(dx - dx_back)) <= 2 * yardstick, label
        assert np.median(np.abs(dx + dx_back)) >= 4 * yardstick, label  # x offsets taken as they come

        agreement = _correlation(own[0], back[0])
        unswapped = outputs[0][1][:, ::-1]
        unflipped = outputs[0][1][..., MIRRORED_PART_IDS]
        assert agreement >= 0.85, label
        assert agreement >= max(_correlation(own[0], unswapped), _correlation(own[0], unflipped)) + 0.1, label
        for displacement in (2, 3):
            raw = outputs[displacement][1][:, ::-1] * np.r_[np.ones(16), -np.ones(16)]  # edges not swapped
            agreement = _correlation(own[displacement], back[displacement])
            assert agreement >= 0.9 and agreement >= _correlation(own[displacement], raw) + 0.05, label


@pytest.mark.parametrize("stride", [8, 16])
def test_a_mirrored_image_gets_the_mirrored_poses(net, photos, stride) -> None:
    """With the flip test the two views of an image and of its mirror are the same pair, so a mirrored
    image's poses are the mirror of the image's poses: the same scores, each part where its twin was, at
    x' = W - 1 - x. Exactly so where resizing commutes with mirroring: at scale 1.0 on a width the network
    takes unresized (1 + k * 16). Positions are float32 sums (cell * stride + offset) below 1024 px, whose
    rounding is under 1e-4 px."""
    width = 1 + 16 * 39
    image = np.ascontiguousarray(photos["images/couple.jpg"][:, :width])
    mirror = np.ascontiguousarray(image[:, ::-1])

    def mirrored(positions: np.ndarray) -> np.ndarray:
        return positions[MIRRORED_PART_IDS] * [-1, 1] + [width - 1, 0]

    single = net.estimate_single_pose(image, 1.0, output_stride=stride, flip_test=True)
    single_mirror = net.estimate_single_pose(mirror, 1.0, output_stride=stride, flip_test=True)
    np.testing.assert_allclose(single.positions, mirrored(single_mirror.positions), rtol=0, atol=1e-4)
    np.testing.assert_allclose(single.scores, single_mirror.scores[MIRRORED_PART_IDS], rtol=0, atol=1e-6)
    for refinement in ("v1", "v2"):
        poses = net.estimate_multiple_poses(image, 1.0, False, stride, 10, 0.1, 20, refinement, flip_test=True)
        poses_mirror = net.estimate_multiple_poses(mirror, 1.0, False, stride, 10, 0.1, 20, refinement, flip_test=True)
        assert len(poses) == len(poses_mirror) >= 2
        for pose, pose_mirror in zip(poses, poses_mirror):
            assert pose.score == pytest.approx(pose_mirror.score, abs=1e-6)
            np.testing.assert_allclose(pose.positions, mirrored(pose_mirror.positions), rtol=0, atol=1e-4)
    # Without the flip test the network alone is not mirror-symmetric: the check above is not vacuous.
    plain = net.estimate_single_pose(image, 1.0, output_stride=stride)
    plain_mirror = net.estimate_single_pose(mirror, 1.0, output_stride=stride)
    assert np.abs(plain.positions - mirrored(plain_mirror.positions)).max() > 0.5


def test_the_flip_test_decodes_the_averaged_views_of_one_session_call(net, photos, monkeypatch) -> None:
    """Three same-size images with the flip test: one session call on six inputs (the images, then their
    mirrors), and the poses are the decoder's on the average of each image's outputs and its mirror's
    mirrored back, computed here by hand."""
    image = photos["images/couple.jpg"]
    images = [image, np.ascontiguousarray(image[::-1]), np.ascontiguousarray(255 - image)]
    network = net.network(16)
    batches: list[int] = []
    run = type(network).run
    monkeypatch.setattr(type(network), "run", lambda self, x: batches.append(len(x)) or run(self, x))
    poses = net.estimate_multiple_poses_batch(images, flip_test=True)
    singles = net.estimate_single_pose_batch(images, flip_test=True)
    assert batches == [6, 6]

    height, width = image.shape[:2]
    resized = np.concatenate([_network_input(i, 0.5, 16) for i in images])
    outputs = run(network, resized)
    mirrors = mirror_back(run(network, np.ascontiguousarray(resized[:, :, ::-1])))
    to_image = np.array([width / resized.shape[2], height / resized.shape[1]])
    for n in range(3):
        averaged = [(outputs[i][n] + mirrors[i][n]) / 2 for i in range(4)]
        expected = decode_multiple_poses(*averaged, 16)
        assert len(poses[n]) == len(expected) >= 1
        np.testing.assert_allclose(np.stack([p.positions for p in poses[n]]), expected.keypoints * to_image, atol=1e-3)
        single = decode_single_pose(*averaged[:2], 16)
        np.testing.assert_allclose(singles[n].positions, single.keypoints[0] * to_image, atol=1e-3)
    assert poses[0] != net.estimate_multiple_poses(image)  # the flip test changes the result


def test_average_with_mirrors_keeps_each_image_with_its_own_mirror() -> None:
    """N images and their N mirrors -> N averages; image n pairs with mirror N + n (fixed-batch padding after
    2N is ignored)."""
    rng = np.random.default_rng(0)
    shapes = (K, 2 * K, 32, 32)
    outputs = [rng.random((5, 3, 5, c), dtype=np.float32) for c in shapes]  # 2 images, 2 mirrors, 1 padding
    averaged = average_with_mirrors(outputs, 2)
    for n in range(2):
        back = mirror_back([o[2 + n : 3 + n] for o in outputs])
        for i in range(4):
            np.testing.assert_allclose(averaged[i][n], (outputs[i][n] + back[i][0]) / 2, rtol=1e-6)


def test_flip_test_off_is_the_original_path(net, photos) -> None:
    """flip_test=False (the default) is the plain path: bit-identical poses to the decoder on one network run,
    as tests/test_parity.py compares with the original package."""
    image = photos["photos/mmpose_coco/000000040083.jpg"]
    network = net.network(16)
    resized = _network_input(image, 0.5, 16)
    outputs = [o[0] for o in network.run(resized)]
    to_image = np.array([image.shape[1] / resized.shape[2], image.shape[0] / resized.shape[1]])
    expected = decode_multiple_poses(*outputs, 16)
    for poses in (net.estimate_multiple_poses(image), net.estimate_multiple_poses(image, flip_test=False)):
        np.testing.assert_array_equal(np.stack([p.positions for p in poses]), expected.keypoints * to_image)
    assert EstimateSettings() == EstimateSettings(flip_test=False)


@pytest.mark.slow
def test_the_flip_test_raises_ap_on_the_annotated_photos(shared: Path, net) -> None:
    """On the 28 annotated photos, at the original's defaults (measured: 19.7 -> 20.9 AP) and at the accurate
    setting (scale 1.0, stride 8, v2: 28.7 -> 29.3 AP)."""
    ground_truth = coco.load_annotations(shared / "photos" / "coco17_all.json")
    base = EstimateSettings(multi_pose=True)
    configurations = coco.sweep(base, flip_tests=[False, True]) + coco.sweep(
        base, scales=[1.0], output_strides=[8], refinements=["v2"], flip_tests=[False, True]
    )
    results = coco.evaluate(ground_truth, shared / "photos", lambda precision: net, configurations)
    ap = [r.metrics["AP"] for r in results]
    assert ap[1] > ap[0] and ap[3] > ap[2], ap
