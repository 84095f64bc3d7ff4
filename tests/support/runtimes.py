"""The exported graphs on other runtimes, run the way a deployment runs them: OpenVINO (CPU plugin, f32),
onnxruntime for JavaScript (onnxruntime-node under Node, scripts/ortjs/run.js) and onnxruntime on ORT-format
files. Shared by the deployment tests (tests/test_openvino.py, test_onnxruntime_js.py, test_ort_format.py)
and scripts/bench_runtimes.py, which measure parity against the Python pipeline on real photos."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posenet_onnx.contract import (
    INPUT_NAME,
    MAX_POSES_NAME,
    MULTI_GRAPH_OUTPUTS,
    NMS_RADIUS_NAME,
    OUTPUT_NAMES,
    SCALE_FACTOR_NAME,
    SCORE_THRESHOLD_NAME,
    SINGLE_GRAPH_OUTPUTS,
)
from posenet_onnx.export.decoder_graph import NETWORK_INPUT
from posenet_onnx.runtime.network import GraphConfig, Network
from posenet_onnx.runtime.pose import Pose
from posenet_onnx.runtime.posenet import estimate_same_size
from posenet_onnx.runtime.settings import EstimateSettings

if TYPE_CHECKING:
    import onnx

REPO = Path(__file__).resolve().parents[2]
ORTJS = REPO / "scripts" / "ortjs"
# Real photos of one to three people, of different sizes (relative to the shared data folder).
PHOTOS = (
    "images/couple.jpg",  # two people, 640 x 480
    "photos/mmpose_coco/000000040083.jpg",  # three people, 500 x 333
    "photos/mmpose_mhp/10084.jpg",  # two people, 298 x 299
    "images/pose.jpg",  # one person full body, 1000 x 667
)
SINGLE_POSE = EstimateSettings()  # upstream's defaults, image scale 0.5
MULTI_POSE = EstimateSettings(multi_pose=True)
# OpenVINO's CPU plugin computes in bf16 on CPUs that have it unless told otherwise: f32 keeps parity.
OPENVINO_F32 = {"INFERENCE_PRECISION_HINT": "f32"}

SingleGraph = Callable[[np.ndarray, float], list[np.ndarray]]  # (uint8 N x H x W x 3, scale) -> the 3 outputs
MultiGraph = Callable[[dict[str, np.ndarray]], list[np.ndarray]]  # multi_feed(...) -> MULTI_GRAPH_OUTPUTS
# (max_pose_detections, score_threshold, nms_radius): upstream's defaults and a permissive set
MULTI_SETTINGS = ((5, 0.5, 20.0), (10, 0.1, 20.0))


@dataclass(frozen=True)
class ForeignNetwork:
    """A plain graph on another runtime, in the runtime's Network shape: the Python pipeline (resize, decode,
    scaling) runs around it unchanged, so only the network's arithmetic differs."""

    config: GraphConfig
    run: Callable[[np.ndarray], list[np.ndarray]]  # float32 network input -> outputs in OUTPUT_NAMES order


def openvino_compiled(path: Path, config: dict[str, str] | None = None):
    """The graph compiled for OpenVINO's CPU plugin (default: f32 inference precision)."""
    import openvino as ov

    core = ov.Core()
    return core.compile_model(core.read_model(str(path)), "CPU", OPENVINO_F32 if config is None else config)


def openvino_network(network: Network, config: dict[str, str] | None = None) -> ForeignNetwork:
    """`network`'s graph file on OpenVINO, with the configuration onnxruntime read from its metadata."""
    compiled = openvino_compiled(network.path, config)
    request = compiled.create_infer_request()
    outputs = [compiled.output(name) for name in OUTPUT_NAMES]

    def run(network_input: np.ndarray) -> list[np.ndarray]:
        results = request.infer({INPUT_NAME: network_input})
        return [np.array(results[output]) for output in outputs]

    return ForeignNetwork(network.config, run)


def openvino_single(path: Path, config: dict[str, str] | None = None) -> SingleGraph:
    """The self-contained single-pose graph on OpenVINO: (uint8 images, scale) -> keypoints, scores."""
    compiled = openvino_compiled(path, config)
    request = compiled.create_infer_request()
    outputs = [compiled.output(name) for name in SINGLE_GRAPH_OUTPUTS]

    def run(images: np.ndarray, scale: float) -> list[np.ndarray]:
        results = request.infer({INPUT_NAME: images, SCALE_FACTOR_NAME: np.array(scale, dtype=np.float32)})
        return [np.array(results[output]) for output in outputs]

    return run


def onnxruntime_single(path: Path, options=None) -> SingleGraph:
    """The self-contained single-pose graph (.onnx or .ort) on onnxruntime's CPU provider."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(images: np.ndarray, scale: float) -> list[np.ndarray]:
        feed = {INPUT_NAME: images, SCALE_FACTOR_NAME: np.array(scale, dtype=np.float32)}
        return session.run(list(SINGLE_GRAPH_OUTPUTS), feed)

    return run


def multi_feed(images: np.ndarray, scale: float | None, settings: tuple[int, float, float]) -> dict[str, np.ndarray]:
    """The multi-pose graph's inputs: uint8 images, the scale factor (None: a fixed-shape graph) and
    (max_pose_detections, score_threshold, nms_radius)."""
    max_poses, threshold, radius = settings
    feed = {
        INPUT_NAME: images,
        MAX_POSES_NAME: np.array(max_poses, np.int64),
        SCORE_THRESHOLD_NAME: np.array(threshold, np.float32),
        NMS_RADIUS_NAME: np.array(radius, np.float32),
    }
    if scale is not None:
        feed[SCALE_FACTOR_NAME] = np.array(scale, np.float32)
    return feed


def onnxruntime_multi(graph: Path | bytes, providers: Sequence[str] = ("CPUExecutionProvider",)) -> MultiGraph:
    """The self-contained multi-pose graph (a .onnx or .ort file, or a serialised model) on onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(graph if isinstance(graph, bytes) else str(graph), providers=list(providers))
    return lambda feed: session.run(list(MULTI_GRAPH_OUTPUTS), feed)


def openvino_multi(path: Path) -> MultiGraph:
    """The self-contained multi-pose graph on OpenVINO's CPU plugin (f32)."""
    compiled = openvino_compiled(path)
    request = compiled.create_infer_request()
    outputs = [compiled.output(name) for name in MULTI_GRAPH_OUTPUTS]

    def run(feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = request.infer(feed)
        return [np.array(results[output]) for output in outputs]

    return run


def multi_pose_differences(outputs: Sequence[np.ndarray], n: int, expected: Sequence[Pose]) -> tuple[np.ndarray, np.ndarray]:
    """Image n of a multi-pose graph's outputs against the Python path's poses (the counts must agree): the
    keypoint distances (px) and each pose's score difference. Rows past the count must be zero."""
    keypoints, keypoint_scores, scores, num_poses = outputs
    count = int(num_poses[n])
    assert count == len(expected), (count, len(expected))
    assert not keypoints[n, count:].any() and not keypoint_scores[n, count:].any() and not scores[n, count:].any()
    if not count:
        return np.zeros(0), np.zeros(0)
    positions = np.stack([pose.positions for pose in expected])
    distances = np.linalg.norm(keypoints[n, :count] - positions, axis=-1).ravel()
    return distances, np.abs(scores[n, :count] - [pose.score for pose in expected])


def network_part(path: Path) -> bytes:
    """A multi-pose graph cut after the network: its image inputs to the four network outputs (N x H x W x C;
    the decoder reads them as N x C x H x W, `PLANES`' inputs, from which three are transposed back here)."""
    import onnx
    from onnx import helper

    planes = _planes(onnx.load(path))
    model = onnx.load_from_string(input_part(path, [OUTPUT_NAMES[0], *planes[1:]]))
    model.graph.node.extend(
        helper.make_node("Transpose", [plane], [name], perm=[0, 2, 3, 1])
        for name, plane in zip(OUTPUT_NAMES[1:], planes[1:])
    )
    del model.graph.output[1:]
    model.graph.output.extend(helper.make_empty_tensor_value_info(name) for name in OUTPUT_NAMES[1:])
    return model.SerializeToString()


def _planes(model: onnx.ModelProto) -> list[str]:
    """The four network outputs as the multi-pose decoder reads them, N x C x H x W, in contract order."""
    from posenet_onnx.export.multi_pose import PLANES

    (concat,) = [node for node in model.graph.node if PLANES in node.output]
    return list(concat.input)


def input_part(path: Path, outputs: Sequence[str] = (NETWORK_INPUT,)) -> bytes:
    """A self-contained graph (single- or multi-pose) from its image inputs to `outputs` (by default the
    network input: the graph's resized image, float32 N x h x w x 3)."""
    import onnx

    model = onnx.load(path)
    extracted = onnx.utils.Extractor(model).extract_model([INPUT_NAME, SCALE_FACTOR_NAME], list(outputs))
    del extracted.opset_import[:]
    extracted.opset_import.extend(model.opset_import)
    extracted.ir_version = model.ir_version
    return extracted.SerializeToString()


def decoder_part(path: Path) -> bytes:
    """A multi-pose graph's decoder alone: the four network outputs (N x H x W x C) become inputs (beside the
    graph's own, which give the scaling to image pixels), transposed here to the N x C x H x W the decoder
    reads, so it can be fed the Python path's network outputs."""
    import onnx
    from onnx import TensorProto, helper

    from posenet_onnx.contract import OUTPUT_CHANNELS
    from posenet_onnx.export.decoder_graph import prune

    model = onnx.load(path)
    graph = model.graph
    planes = _planes(model)
    cut = {*OUTPUT_NAMES, *planes}
    decoder = [node for node in graph.node if not set(node.output) & cut]
    del graph.node[:]
    graph.node.extend(
        helper.make_node("Transpose", [name], [plane], perm=[0, 3, 1, 2]) for name, plane in zip(OUTPUT_NAMES, planes)
    )
    graph.node.extend(decoder)
    graph.input.extend(
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "grid_height", "grid_width", OUTPUT_CHANNELS[name]])
        for name in OUTPUT_NAMES
    )
    prune(graph)  # the backbone, which nothing reads now
    return model.SerializeToString()


def ortjs_missing() -> str | None:
    """Why onnxruntime for JavaScript cannot run here (None: it can)."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (ORTJS / "node_modules" / ".installed").is_file():
        return "onnxruntime-node is not installed: run `make ortjs`"
    return None


def run_node(model: Path, feeds: Sequence[dict[str, np.ndarray]], repeats: int = 0, threads: int | None = None) -> dict:
    """Run `model` under Node's onnxruntime-node once per feed (name -> uint8 or float32 array).

    Returns {"onnxruntime": version, "outputs": [per feed: name -> array], "ms": [per feed, with repeats > 0:
    (median, fastest)]}.
    """
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        runs = []
        for n, feed in enumerate(feeds):
            inputs = {}
            for name, array in feed.items():
                file = work / f"{n}_{name}.bin"
                np.ascontiguousarray(array).tofile(file)
                inputs[name] = {"file": str(file), "type": str(array.dtype), "dims": list(array.shape)}
            (work / str(n)).mkdir()
            runs.append({"inputs": inputs, "outputDir": str(work / str(n))})
        request = work / "request.json"
        request.write_text(json.dumps({"model": str(model), "runs": runs, "repeats": repeats, "threads": threads}))
        done = subprocess.run(
            ["node", str(ORTJS / "run.js"), str(request)], capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0:
            raise RuntimeError(f"onnxruntime-node failed:\n{done.stderr[-3000:]}")
        answer = json.loads(done.stdout)
        outputs = []
        for n, result in enumerate(answer["results"]):
            arrays = {}
            for name, spec in result["outputs"].items():
                values = np.fromfile(work / str(n) / f"{name}.bin", dtype=spec["type"])
                arrays[name] = values.reshape(spec["dims"])
            outputs.append(arrays)
        return {
            "onnxruntime": answer["onnxruntime"],
            "outputs": outputs,
            "ms": [(result.get("medianMs"), result.get("fastestMs")) for result in answer["results"]],
        }


def poses_through(network: Network | ForeignNetwork, image: np.ndarray, settings: EstimateSettings) -> list[Pose]:
    """The Python pipeline's poses of one image with `network` in place of the onnxruntime one."""
    return estimate_same_size(network, [image], settings)[0]


def keypoint_shifts(poses: Sequence[Pose], expected: Sequence[Pose]) -> np.ndarray:
    """Distances (px) between the keypoints of two pose lists, pose by pose; the lists must be as long."""
    assert len(poses) == len(expected), (len(poses), len(expected))
    if not poses:
        return np.zeros(0)
    return np.concatenate([np.linalg.norm(a.positions - b.positions, axis=1) for a, b in zip(poses, expected)])


def max_abs_differences(outputs: Sequence[np.ndarray], expected: Sequence[np.ndarray]) -> list[float]:
    """Max |a - b| per output."""
    return [float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max()) for a, b in zip(outputs, expected)]


# Graph kinds beyond the fp32 plain graphs of conftest's real_model_dir: export_model's options per kind.
GRAPH_KINDS: dict[str, dict] = {
    "plain_int8": {"precision": "int8"},
    "single_fp32": {"decoder": "single"},
    "single_int8": {"decoder": "single", "precision": "int8"},
    "plain_ort": {"file_format": "ort"},
    "single_ort": {"decoder": "single", "file_format": "ort"},
    "multi_fp32": {"decoder": "multi"},
    "multi_ort": {"decoder": "multi", "file_format": "ort"},
}
_EXPORTED: dict[str, Path] = {}


def exported_graph(kind: str, out_dir: Callable[[], Path], checkpoint_dir: Path, calibration_dir: Path) -> Path:
    """The real 0.50 checkpoint at output stride 16 exported as `kind`, once per process (`out_dir()` gives the
    folder on first use); int8 is calibrated on the photos in `calibration_dir`."""
    if kind not in _EXPORTED:
        from posenet_onnx.export import export_model

        options = dict(GRAPH_KINDS[kind])
        if options.get("precision") == "int8":
            options["calibration_dir"] = calibration_dir
        _EXPORTED[kind] = export_model(0.50, 16, out_dir(), checkpoint_dir=checkpoint_dir, progress=False, **options)
    return _EXPORTED[kind]
