"""The self-contained multi-pose graph (`export --decoder multi`) of the real 0.50 and 0.75 checkpoints: from a
uint8 image and the parameters to every pose, as estimate_multiple_poses (which equals the original package)
finds them on the 28 real annotated photos, at strides 8 and 16, image scales 0.5 and 1.0, upstream's defaults
and a permissive set; its traversal tables against the pose chain; its contract, operators, opsets, fixed-shape
variant, batches, empty results; onnxruntime from a Python with no posenet-onnx code; posenet_onnx.load."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import onnx
import pytest

import posenet_onnx
from posenet_onnx.contract import (
    INPUT_NAME,
    MAX_POSES_NAME,
    META_DECODER,
    META_OUTPUTS,
    META_PARAMETERS,
    META_RESIZE,
    MULTI_GRAPH_OUTPUTS,
    MULTI_GRAPH_PARAMETERS,
    MULTI_POSE_DEFAULTS,
    NMS_RADIUS_NAME,
    OUTPUT_NAMES,
    SCALE_FACTOR_NAME,
    SCORE_THRESHOLD_NAME,
)
from posenet_onnx.decode.decode_pose import near_cell
from posenet_onnx.export import export_model
from posenet_onnx.keypoints import NUM_KEYPOINTS, POSE_CHAIN_IDS
from posenet_onnx.runtime.images import load_image
from posenet_onnx.runtime.resize import resize_bilinear, valid_resolution
from support.runtimes import (
    MULTI_SETTINGS,
    decoder_part,
    input_part,
    multi_feed,
    multi_pose_differences,
    onnxruntime_multi,
)

pytestmark = [pytest.mark.needs_tensorflow, pytest.mark.slow]

# Issue 16's targets against estimate_multiple_poses over images x parameter sets, per model and stride.
SAME_COUNT_SHARE, MEDIAN_PX, P99_PX, SCORE_ATOL = 0.98, 0.01, 0.5, 1e-3
FIXED_SIZE = (353, 257)  # height, width: valid at strides 8 and 16


@pytest.fixture(scope="session")
def multi_models(checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[float, int], Path]:
    out_dir = tmp_path_factory.mktemp("multi_models")
    return {
        (multiplier, stride): export_model(
            multiplier, stride, out_dir, checkpoint_dir=checkpoint_dir, decoder="multi", progress=False
        )
        for multiplier in (0.50, 0.75)
        for stride in (8, 16)
    }


@pytest.fixture(scope="session")
def exact_models(checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[float, int], Path]:
    """Graphs with resize="exact": the 0.50 ones for the bit-for-bit test, 0.75 stride 8 (where the fast resize
    moves a keypoint by a cell) for parity."""
    out_dir = tmp_path_factory.mktemp("exact_models")
    return {
        model: export_model(*model, out_dir, checkpoint_dir=checkpoint_dir, decoder="multi", resize="exact", progress=False)
        for model in ((0.50, 8), (0.50, 16), (0.75, 8))
    }


@pytest.fixture(scope="session")
def nets(net, checkpoint_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[float, object]:
    """The Python path (plain graphs, Numba decoder) of both real checkpoints."""
    model_dir = tmp_path_factory.mktemp("models_075")
    return {0.50: net, 0.75: posenet_onnx.load(0.75, model_dir=model_dir, checkpoint_dir=checkpoint_dir, device="cpu")}


def test_file_name_contract_and_operators(multi_models):
    path = multi_models[0.50, 16]
    assert path.name == "mobilenet_v1_050_stride16_multi.onnx"
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    nodes = list(model.graph.node)
    for node in model.graph.node:
        for attribute in node.attribute:
            nodes += attribute.g.node  # the Loop's body
    assert {node.domain for node in nodes} == {""} and {o.domain for o in model.opset_import} == {""}
    run = onnxruntime_multi(path)
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {
        INPUT_NAME: ("tensor(uint8)", ["batch", "height", "width", 3]),
        SCALE_FACTOR_NAME: ("tensor(float)", []),
        MAX_POSES_NAME: ("tensor(int64)", []),
        SCORE_THRESHOLD_NAME: ("tensor(float)", []),
        NMS_RADIUS_NAME: ("tensor(float)", []),
    }
    assert [(o.name, o.type) for o in session.get_outputs()] == [
        ("keypoints", "tensor(float)"), ("keypoint_scores", "tensor(float)"), ("scores", "tensor(float)"),
        ("num_poses", "tensor(int64)"),
    ]
    meta = session.get_modelmeta().custom_metadata_map
    assert meta[META_DECODER] == "multi" and meta[META_RESIZE] == "fast"
    assert [o["name"] for o in json.loads(meta[META_OUTPUTS])] == list(MULTI_GRAPH_OUTPUTS)
    defaults = {p["name"]: p["default"] for p in json.loads(meta[META_PARAMETERS])}
    assert defaults == {SCALE_FACTOR_NAME: 0.5, MAX_POSES_NAME: 5, SCORE_THRESHOLD_NAME: 0.5, NMS_RADIUS_NAME: 20.0}
    assert defaults == MULTI_POSE_DEFAULTS and list(defaults)[1:] == list(MULTI_GRAPH_PARAMETERS)
    assert run(multi_feed(np.zeros((1, 97, 97, 3), np.uint8), 1.0, (5, 0.5, 20.0)))[3].tolist() == [0]


def test_traversal_tables_follow_the_pose_chain():
    """Upstream grows a pose backwards along edges 15..0, then forwards along 0..15: each keypoint comes from its
    neighbour on the chain's path to the root, through that edge's displacement (fwd when the neighbour is the
    parent), at its distance from the root (checked against a breadth-first search of the chain)."""
    from posenet_onnx.export.multi_pose import BWD, FWD, ROWS, path_tables, traversal_steps

    neighbours: dict[int, list[tuple[int, int, int]]] = {k: [] for k in range(NUM_KEYPOINTS)}
    for edge, (parent, child) in enumerate(POSE_CHAIN_IDS.tolist()):
        neighbours[parent].append((child, edge, FWD))
        neighbours[child].append((parent, edge, BWD))
    depth, width, displacements, refinements, columns = path_tables()
    assert depth == 8  # the chain's longest path: ankle to ankle
    assert 0 <= displacements.min() and displacements.max() < ROWS and refinements.max() < ROWS
    for root in range(NUM_KEYPOINTS):
        found = {root: (None, None, 0)}  # keypoint -> (source, displacement row, depth)
        queue = deque([root])
        while queue:
            source = queue.popleft()
            for target, edge, base in neighbours[source]:
                if target not in found:
                    found[target] = (source, base + edge, found[source][2] + 1)
                    queue.append(target)
        steps = traversal_steps(root)
        assert len(steps) == NUM_KEYPOINTS - 1
        assert {target: (source, channel, depth) for source, target, channel, depth in steps} == {
            k: v for k, v in found.items() if k != root
        }
        # Each keypoint's column holds its traversal, at its depth, in a slot whose previous level holds its
        # source (the root before level 1).
        assert columns[root, root, 0] == 0
        for k in set(range(NUM_KEYPOINTS)) - {root}:
            source, row, distance = found[k]
            level, slot = divmod(columns[root, k, 0] - 1, width)
            assert level + 1 == distance
            assert refinements[root, level * width + slot] == k and displacements[root, level * width + slot] == row
            if level:
                assert refinements[root, (level - 1) * width + slot] == source
            else:
                assert source == root


def test_table_rows_hold_each_keypoints_offset_and_score_and_each_edges_displacement():
    """Row r of the lookup table, per the contract's channel layout (scores, offsets: 17 dy then 17 dx,
    displacements fwd and bwd: 16 dy then 16 dx): keypoints' (dy, dx, score), then backward and forward edges'
    (dy, dx, dy), at the row bases the traversal steps use."""
    from posenet_onnx.export.multi_pose import BWD, FWD, REFINEMENTS, ROWS, table_channels

    rows = table_channels().reshape(ROWS, 3)
    scores, offsets, forward, backward = 0, 17, 17 + 34, 17 + 34 + 32
    for k in range(NUM_KEYPOINTS):
        assert rows[REFINEMENTS + k].tolist() == [offsets + k, offsets + 17 + k, scores + k]
    for e in range(16):
        assert rows[BWD + e].tolist() == [backward + e, backward + 16 + e, backward + e]
        assert rows[FWD + e].tolist() == [forward + e, forward + 16 + e, forward + e]


def test_near_cell_nodes_round_as_javascript():
    """The graph's near cell (clamped, then floor(v + 0.49999999999999994) as int64) equals the decoder's
    js_round-based near_cell: halves, the doubles next to them and the double just below 0.5 included; the
    third value is the table row it is asked for."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from posenet_onnx.export.decoder_graph import Nodes
    from posenet_onnx.export.multi_pose import _Decoder, near_cell_halves

    graph = helper.make_graph([], "near", [helper.make_tensor_value_info("v", TensorProto.DOUBLE, [None, 3])], [])
    decoder = _Decoder(Nodes(graph, 17, "test"), 16)
    limits = decoder.nodes.const([20.0, 30.0, 0.0], np.float64)
    row_halves = decoder.nodes.const(near_cell_halves(np.array(37)), np.float64)
    graph.output.append(helper.make_tensor_value_info(decoder._near_cell("v", limits, row_halves), TensorProto.INT64, [None, 3]))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    halves = [k + 0.5 for k in range(31)]
    neighbours = [np.nextafter(v, side) for v in [0.0, *halves] for side in (-1.0, 100.0)]
    values = [*halves, *neighbours, -0.5, -7.3, 19.7, 31.0, 1e300, -1e300, *np.random.default_rng(3).random(50) * 32]
    grid = np.array([[v, v, 0.7] for v in values])
    cells = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"v": grid})[0]
    for v, (y, x, row) in zip(values, cells):
        assert (y, x, row) == (near_cell(v * 16, 16, 21), near_cell(v * 16, 16, 31), 37), v


@pytest.mark.parametrize(
    ("multiplier", "output_stride", "resize"),
    [(0.50, 8, "fast"), (0.50, 16, "fast"), (0.75, 8, "fast"), (0.75, 16, "fast"), (0.75, 8, "exact")],
)
def test_matches_estimate_multiple_poses_on_real_photos(
    multiplier, output_stride, resize, multi_models, exact_models, nets, annotated_photos
):
    """Over the 28 photos x image scales 0.5 and 1.0 x two parameter sets (`-s` prints the figures
    docs/export.md quotes). The fast resize (onnxruntime's float32 Resize) moves resized pixels by up to about
    0.005, and rarely a keypoint by a cell; the exact one is bit-identical to the Python path's (the test
    below), so only float32 rounding of the decoder's outputs differs: every pose within 1e-3 px and 1e-6.
    The graph's decoder alone, fed the Python path's own network outputs, must give the Python decoder's poses
    everywhere, to float32 rounding."""
    path = (multi_models if resize == "fast" else exact_models)[multiplier, output_stride]
    run, decoder = onnxruntime_multi(path), onnxruntime_multi(decoder_part(path))
    net = nets[multiplier]
    network = net.network(output_stride)
    cases = same = 0
    distances, score_errors, decoder_distances, decoder_score_errors = [], [], [], []
    for image in annotated_photos:
        for scale in (0.5, 1.0):
            size = valid_resolution(scale, image.shape[0], output_stride), valid_resolution(scale, image.shape[1], output_stride)
            network_outputs = dict(zip(OUTPUT_NAMES, network.run(resize_bilinear(image[np.newaxis], *size))))
            for settings in MULTI_SETTINGS:
                feed = multi_feed(image[np.newaxis], scale, settings)
                outputs = run(feed)
                max_poses, threshold, radius = settings
                assert outputs[0].shape == (1, max_poses, NUM_KEYPOINTS, 2)
                expected = net.estimate_multiple_poses(image, scale, False, output_stride, max_poses, threshold, radius)
                found, score_error = multi_pose_differences(decoder({**feed, **network_outputs}), 0, expected)
                decoder_distances.append(found)
                decoder_score_errors.append(score_error)
                cases += 1
                if int(outputs[3][0]) == len(expected):
                    same += 1
                    found, score_error = multi_pose_differences(outputs, 0, expected)
                    distances.append(found)
                    score_errors.append(score_error)
    distances, score_errors = np.concatenate(distances), np.concatenate(score_errors)
    decoder_distances, decoder_score_errors = np.concatenate(decoder_distances), np.concatenate(decoder_score_errors)
    print(f"\n{multiplier:.2f} stride {output_stride}, {resize} resize: same count {same}/{cases}, {len(score_errors)} poses; keypoints "
          f"median {np.median(distances):.2g} px, p99 {np.percentile(distances, 99):.2g} px, max {distances.max():.2g} px; "
          f"pose scores within 1e-3: {np.mean(score_errors <= SCORE_ATOL):.2%}, max {score_errors.max():.2g}; decoder "
          f"alone: keypoints max {decoder_distances.max():.2g} px, scores max {decoder_score_errors.max():.2g}")
    assert same >= SAME_COUNT_SHARE * cases
    assert np.median(distances) <= MEDIAN_PX and np.percentile(distances, 99) <= P99_PX
    assert np.mean(score_errors <= SCORE_ATOL) >= 0.99
    assert decoder_distances.max() <= 1e-3 and decoder_score_errors.max() <= 1e-6
    if resize == "exact":
        assert same == cases and distances.max() <= 1e-3 and score_errors.max() <= 1e-6


@pytest.mark.parametrize("output_stride", [8, 16])
def test_the_exact_resize_is_the_python_paths_bit_for_bit(output_stride, exact_models, annotated_photos, shared):
    """With resize="exact" the graph's network input (its resize of the uint8 photo) equals runtime/resize.py's,
    which equals tfjs 1.1.2's resizeBilinear, exactly: on the 28 photos and the larger ones of images/, at
    scales 0.5, 1.0 and 0.2 (as float32, the graph's input), and on a batch of two."""
    import onnxruntime as ort

    path = exact_models[0.50, output_stride]
    assert path.name == f"mobilenet_v1_050_stride{output_stride}_multi_exactresize.onnx"
    assert ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map[META_RESIZE] == "exact"
    session = ort.InferenceSession(input_part(path), providers=["CPUExecutionProvider"])
    photos = [*annotated_photos, *(load_image(shared / "images" / name) for name in ("couple.jpg", "pose.jpg"))]
    batch = np.stack([annotated_photos[0], annotated_photos[0][::-1, ::-1]])
    for images in [photo[np.newaxis] for photo in photos] + [batch]:
        for scale in (0.5, 1.0, float(np.float32(0.2))):
            size = (valid_resolution(scale, side, output_stride) for side in images.shape[1:3])
            expected = resize_bilinear(images, *size)
            feed = {INPUT_NAME: images, SCALE_FACTOR_NAME: np.array(scale, np.float32)}
            resized = session.run(None, feed)[0]
            assert resized.shape == expected.shape and np.array_equal(resized, expected), (images.shape, scale)


def test_fixed_shape_variant_decodes_exactly(checkpoint_dir, net, annotated_photos, tmp_path):
    """A 353x257 batch-2 graph runs the network on the image unresized, as estimate_multiple_poses at scale 1.0
    does for an image of that size: the same network input, so the decoder alone is compared (float32 output
    rounding only)."""
    path = export_model(
        0.50, 16, tmp_path, checkpoint_dir=checkpoint_dir, decoder="multi", input_size=FIXED_SIZE, batch=2,
        progress=False,
    )
    assert path.name == "mobilenet_v1_050_stride16_multi_353x257_batch2.onnx"
    height, width = FIXED_SIZE
    large = [photo for photo in annotated_photos if photo.shape[0] >= height and photo.shape[1] >= width]
    run = onnxruntime_multi(path)
    for first in range(0, 6, 2):
        images = np.stack([np.ascontiguousarray(photo[:height, :width]) for photo in large[first : first + 2]])
        for settings in MULTI_SETTINGS:
            outputs = run(multi_feed(images, None, settings))
            for n, image in enumerate(images):
                expected = net.estimate_multiple_poses(image, 1.0, False, 16, *settings)
                distances, score_error = multi_pose_differences(outputs, n, expected)
                assert distances.max(initial=0) <= 1e-3 and score_error.max(initial=0) <= 1e-5


def test_a_batch_decodes_each_image_on_its_own(multi_models, annotated_photos):
    run = onnxruntime_multi(multi_models[0.50, 16])
    photo = annotated_photos[3]
    images = np.stack([photo, photo[:, ::-1], np.zeros_like(photo)])  # mirrored: other poses; blank: none
    settings = (10, 0.15, 20.0)
    batched = run(multi_feed(images, 0.5, settings))
    counts = batched[3].tolist()
    assert counts[0] >= 1 and counts[1] >= 1 and counts[2] == 0
    for n, image in enumerate(images):
        alone = run(multi_feed(image[np.newaxis], 0.5, settings))
        assert alone[3][0] == counts[n]
        for got, expected in zip(batched[:3], alone[:3]):
            np.testing.assert_allclose(got[n], expected[0], rtol=0, atol=1e-4)
    # An infinite radius: the first pose of an image suppresses every other root; an image that is done early
    # (the blank one, then each after its first pose) chooses no pose while the others go on.
    assert run(multi_feed(images, 0.5, (10, 0.15, np.inf)))[3].tolist() == [1, 1, 0]


def test_no_tensor_is_empty_at_run_time(multi_models, annotated_photos):
    """Every value of the graph (Loop body aside: [N, M] with M >= 1) is non-empty, with and without poses,
    and for max_pose_detections 0 (which acts as 1)."""
    model = onnx.load(multi_models[0.50, 16])
    typed = onnx.shape_inference.infer_shapes(model).graph
    types = {value.name: value for value in [*typed.value_info, *typed.output]}
    outputs = {output.name for output in model.graph.output}
    model.graph.output.extend(
        types[name] for node in model.graph.node for name in node.output if name not in outputs and name in types
    )
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    assert len(names) > 300
    photo = annotated_photos[0][np.newaxis]
    for images, settings in ((photo, (5, 0.5, 20.0)), (photo, (5, 1.0, 20.0)), (np.zeros_like(photo), (0, 0.5, 20.0))):
        values = session.run(None, multi_feed(images, 0.5, settings))
        assert [name for name, value in zip(names, values) if value.size == 0] == []
        keypoints = values[names.index("keypoints")]
        assert keypoints.shape == (1, max(settings[0], 1), NUM_KEYPOINTS, 2)


@pytest.mark.parametrize("opset", [13, 18])
def test_opsets_through_the_command_line(opset, checkpoint_dir, multi_models, annotated_photos, tmp_path):
    """`posenet-onnx export --decoder multi` at the oldest and newest opsets: the same poses as opset 17."""
    command = [
        sys.executable, "-m", "posenet_onnx.cli", "export", "--multiplier", "0.50", "--decoder", "multi",
        "--opset", str(opset), "--checkpoint-dir", str(checkpoint_dir), "-o", str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == tmp_path / "mobilenet_v1_050_stride16_multi.onnx"
    assert onnx.load(path).opset_import[0].version == opset
    got, expected = onnxruntime_multi(path), onnxruntime_multi(multi_models[0.50, 16])
    for image in annotated_photos[:4]:
        feed = multi_feed(image[np.newaxis], 0.5, MULTI_SETTINGS[1])
        for a, b in zip(got(feed), expected(feed)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def test_fp16_graph_keeps_the_contract_and_finds_the_people(checkpoint_dir, multi_models, annotated_photos, tmp_path):
    path = export_model(0.50, 16, tmp_path, checkpoint_dir=checkpoint_dir, decoder="multi", precision="fp16", progress=False)
    assert path.name == "mobilenet_v1_050_stride16_multi_fp16.onnx"
    half, full = onnxruntime_multi(path), onnxruntime_multi(multi_models[0.50, 16])
    for image in annotated_photos[:6]:
        feed = multi_feed(image[np.newaxis], 0.5, MULTI_SETTINGS[0])
        got, expected = half(feed), full(feed)
        count = int(expected[3][0])
        assert abs(int(got[3][0]) - count) <= 1
        if count and got[3][0]:  # the strongest pose: the same person
            assert np.median(np.linalg.norm(got[0][0, 0] - expected[0][0, 0], axis=-1)) <= 4.0


def test_reference_evaluator_agrees_on_a_small_real_case(multi_models, annotated_photos):
    """onnx's ReferenceEvaluator, an independent implementation of every operator (TopK's order of equal
    values, Loop, GatherND with batch_dims, ...), gives the same poses."""
    from support.reference_evaluator import reference_evaluator

    path = multi_models[0.50, 16]
    image = np.ascontiguousarray(annotated_photos[1][60:230, 150:400])[np.newaxis]  # a real 170x250 crop
    feed = multi_feed(image, 0.9, (6, 0.1, 20.0))
    evaluator = reference_evaluator(onnx.load(path))
    reference = evaluator.run(list(MULTI_GRAPH_OUTPUTS), feed)
    got = onnxruntime_multi(path)(feed)
    assert reference[3].tolist() == got[3].tolist() and got[3][0] >= 2
    for a, b in zip(got[:3], reference[:3]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-3)


_PLAIN_ONNXRUNTIME = """
import sys
import numpy as np
import onnxruntime as ort

graph, images, out = sys.argv[1:4]
session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
results = {}
for n, image in enumerate(np.load(images, allow_pickle=False)["images"]):
    for m, (scale, max_poses, threshold) in enumerate([(0.5, 5, 0.5), (1.0, 10, 0.1)]):
        outputs = session.run(None, {
            "image": image[np.newaxis], "image_scale_factor": np.array(scale, np.float32),
            "max_pose_detections": np.array(max_poses, np.int64), "score_threshold": np.array(threshold, np.float32),
            "nms_radius": np.array(20.0, np.float32),
        })
        for name, value in zip(["keypoints", "keypoint_scores", "scores", "num_poses"], outputs):
            results[f"{n}_{m}_{name}"] = value
np.savez(out, **results)
assert not [name for name in sys.modules if name.startswith("posenet_onnx")]
"""


def test_onnxruntime_alone_runs_it(multi_models, net, annotated_photos, tmp_path):
    """A Python that imports only numpy and onnxruntime (isolated mode, from a scratch folder) gets the poses
    estimate_multiple_poses gets."""
    photos = [photo for photo in annotated_photos if photo.shape[:2] == annotated_photos[0].shape[:2]][:2]
    np.savez(tmp_path / "images.npz", images=np.stack(photos))
    script = tmp_path / "run.py"
    script.write_text(_PLAIN_ONNXRUNTIME)
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(multi_models[0.50, 16]), str(tmp_path / "images.npz"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    results = np.load(tmp_path / "out.npz")
    for n, image in enumerate(photos):
        for m, (scale, max_poses, threshold) in enumerate([(0.5, 5, 0.5), (1.0, 10, 0.1)]):
            outputs = [results[f"{n}_{m}_{name}"] for name in MULTI_GRAPH_OUTPUTS]
            expected = net.estimate_multiple_poses(image, scale, max_pose_detections=max_poses, score_threshold=threshold)
            assert len(expected) >= 1
            distances, score_error = multi_pose_differences(outputs, 0, expected)
            assert np.median(distances) <= MEDIAN_PX and score_error.max() <= SCORE_ATOL


def test_load_serves_estimate_multiple_poses_from_the_graph(multi_models, net, annotated_photos):
    """posenet_onnx.load on the file: the PoseNet API's multi-pose estimates (every option the graph has),
    parameters checked as PoseNet checks them, single-pose estimation refused."""
    from posenet_onnx.runtime.settings import EstimateSettings

    graph = posenet_onnx.load(multi_models[0.50, 16], device="cpu")
    assert (graph.multiplier, graph.output_stride, graph.precision) == (0.50, 16, "fp32")
    images = annotated_photos[:8]
    options = [
        {},
        {"flip_horizontal": True},
        {"image_scale_factor": 1.0, "max_pose_detections": 10, "score_threshold": 0.1, "nms_radius": 30},
        {"score_threshold": 0.3, "max_pose_detections": 10**30},  # beyond any image: as many as there are
    ]
    for kwargs in options:
        for image, poses in zip(images, graph.estimate_multiple_poses_batch(images, **kwargs)):
            expected = net.estimate_multiple_poses(image, **kwargs)
            assert len(poses) == len(expected)
            for pose, reference in zip(poses, expected):
                assert pose.to_dict().keys() == reference.to_dict().keys()
                assert np.abs(pose.positions - reference.positions).max() <= 0.01
                assert abs(pose.score - reference.score) <= SCORE_ATOL
    settings = EstimateSettings(True, score_threshold=0.2)
    assert [len(p) for p in graph.estimate(images, settings)] == [len(p) for p in net.estimate(images, settings)]
    for call, message in (
        (lambda: graph.estimate(images, EstimateSettings()), "multiple poses only"),
        (lambda: graph.estimate_single_pose(images[0]), "multiple poses only"),
        (lambda: graph.estimate_multiple_poses(images[0], refinement="v2"), "refinement"),
        (lambda: graph.estimate_multiple_poses(images[0], output_stride=8), "output stride 16 only"),
        (lambda: graph.estimate_multiple_poses(images[0], score_threshold=1.5), "score_threshold"),
        (lambda: graph.estimate_multiple_poses(images[0], image_scale_factor=0.1), "image_scale_factor"),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_the_threshold_goes_in_as_upstreams_double_comparison():
    """load's graph gets the float32 just above a threshold float32 cannot hold (0.1 lies between two), so that
    a float32 heatmap score passes the graph's float32 comparison exactly when it is >= the double, as in
    JavaScript; the radius goes in as given."""
    from posenet_onnx.runtime.multi_pose_graph import graph_parameters
    from posenet_onnx.runtime.settings import EstimateSettings

    rng = np.random.default_rng(16)
    thresholds = [0.1, 0.3, 0.5, 0.0, 1.0, float(np.float32(0.7)), float(np.float32(0.7)) + 1e-12, *rng.random(50)]
    for threshold in thresholds:
        parameters = graph_parameters(EstimateSettings(True, score_threshold=threshold))
        given = parameters[SCORE_THRESHOLD_NAME]
        assert given.dtype == np.float32 and parameters[NMS_RADIUS_NAME] == np.float32(20.0)
        nearest = np.float32(threshold)
        for score in (np.nextafter(nearest, np.float32(0)), nearest, np.nextafter(nearest, np.float32(2))):
            assert (score >= given) == (float(score) >= threshold), (threshold, score)


def test_the_command_line_estimates_with_it(multi_models, net, shared, tmp_path):
    """`posenet-onnx estimate --multi --model ..._multi.onnx` writes the poses the plain graph's path finds."""
    image = shared / "images" / "couple.jpg"
    out = tmp_path / "poses.json"
    command = [sys.executable, "-m", "posenet_onnx.cli", "estimate", str(image), "--multi", "--model",
               str(multi_models[0.50, 16]), "--json", str(out), "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())
    expected = net.estimate_multiple_poses(str(image))
    assert [record["image"] for record in written] == [str(image)]
    poses = written[0]["poses"]
    assert len(poses) == len(expected) >= 1
    assert abs(poses[0]["score"] - expected[0].score) <= SCORE_ATOL
    single = [arg for arg in command if arg != "--multi"]
    single[single.index(str(out))] = str(tmp_path / "single.json")
    single = subprocess.run(single, capture_output=True, text=True, timeout=300)
    assert single.returncode == 2 and "multiple poses only" in single.stderr
