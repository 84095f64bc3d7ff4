"""The `posenet-onnx` command: every subcommand's arguments, parsed here in one shape.

Each subcommand has one function below that declares its arguments; its work is `run(args)` in
`posenet_onnx.commands.<name>`, imported only when that subcommand runs. Every user error ends with
exit status 2 and one line on stderr that names the problem; Ctrl-C ends with 130 (SIGTERM, SIGHUP: 128 + the
signal's number) and says what was kept.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn


ENV_DEBUG = "POSENET_ONNX_DEBUG"  # set to show a traceback instead of the one-line error


def _path(text: str) -> Path:
    """A path argument; an empty one (which Path would take as the current folder) is refused."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path; give a file or folder name")
    return Path(text)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _on_off(text: str) -> bool:
    """on/off (also true/false, yes/no, 1/0) as a bool."""
    value = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}.get(
        text.lower()
    )
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not on or off")
    return value


def _describe_presets(presets: dict[str, dict[str, object]]) -> str:
    """The presets as help text, e.g. `accurate: scale 1.0, stride 8, v2, flip test on`."""
    from posenet_onnx.contract import DEFAULT_OUTPUT_STRIDE

    def describe(values: dict[str, object]) -> str:
        stride = values["output_stride"] or DEFAULT_OUTPUT_STRIDE
        flip = "on" if values["flip_test"] else "off"
        return f"scale {values['image_scale_factor']}, stride {stride}, {values['refinement']}, flip test {flip}"

    return "; ".join(f"{name}: {describe(values)}" for name, values in presets.items())


def _input_size(text: str) -> tuple[int, int]:
    """--input-size HxW, each side in range and the whole within the pixel limit, checked as it is parsed (its
    validity for the output stride is checked with the other export options)."""
    from posenet_onnx.contract import parse_input_size
    from posenet_onnx.export.exporter import check_input_pixels

    try:
        return check_input_pixels(parse_input_size(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _export(commands: argparse._SubParsersAction) -> None:
    from posenet_onnx.contract import (
        DECODERS, DEFAULT_OPSET, DEFAULT_OUTPUT_STRIDE, DEFAULT_PRECISION, DEFAULT_RESIZE, FORMATS, MULTIPLIERS, OPSETS,
        OUTPUT_STRIDES, PRECISIONS, RESIZES, VALID_MODELS,
    )

    parser = commands.add_parser(
        "export",
        help="export PoseNet checkpoints to ONNX graphs (needs the export extra)",
        description="Convert PoseNet 1.x checkpoints (downloaded once, or from --checkpoint-dir) to ONNX graphs.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--multiplier", type=float, choices=MULTIPLIERS, help="MobileNet width multiplier")
    which.add_argument("--all", action="store_true", help=f"export all {len(VALID_MODELS)} valid graphs")
    parser.add_argument(
        "--output-stride", type=int, choices=OUTPUT_STRIDES, default=DEFAULT_OUTPUT_STRIDE, help=f"default: {DEFAULT_OUTPUT_STRIDE}"
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS, default=DEFAULT_PRECISION, help="fp32 (default), fp16 for GPUs, int8 for CPUs"
    )
    parser.add_argument("--calibration-dir", type=_path, default=None, help="folder of photos of people to calibrate int8 on")
    parser.add_argument(
        "--decoder", choices=DECODERS, default=None,
        help="a self-contained graph from a uint8 image to poses: single (the single pose) or multi (every pose, "
        "with max_pose_detections, score_threshold and nms_radius inputs)",
    )
    parser.add_argument(
        "--resize", choices=RESIZES, default=DEFAULT_RESIZE,
        help="how a self-contained graph resizes the image: fast (default; onnxruntime's Resize op, float32: pixels "
        "within about 0.005 of the original's) or exact (tfjs's arithmetic bit for bit, several times slower)",
    )
    parser.add_argument(
        "--input-size", type=_input_size, default=None, metavar="HxW",
        help="fix the input's height and width (each k * output stride + 1, e.g. 257x257); default: any size",
    )
    parser.add_argument("--batch", type=int, default=None, metavar="N", help="fix the batch size (default: any)")
    parser.add_argument(
        "--opset", type=int, choices=OPSETS, default=DEFAULT_OPSET, metavar="N",
        help=f"ONNX opset, {OPSETS[0]} to {OPSETS[-1]} (default: {DEFAULT_OPSET})",
    )
    parser.add_argument(
        "--format", dest="file_format", choices=FORMATS, default="onnx",
        help="onnx (default), or ort: onnxruntime's format for onnxruntime Mobile",
    )
    parser.add_argument("-o", "--output-dir", type=_path, default=None, help="folder for the .onnx files (default: the model cache)")
    parser.add_argument(
        "--checkpoint-dir",
        type=_path,
        default=None,
        help="offline folder of mobilenet_v1_XXX/ checkpoints (default: $POSENET_ONNX_CHECKPOINT_DIR, else download)",
    )


def _estimate(commands: argparse._SubParsersAction) -> None:
    from posenet_onnx.runtime.batch.jobs import DEFAULT_BATCH_SIZE, MAX_READ_THREADS
    from posenet_onnx.runtime.batch.ray_engine import DEFAULT_ACTOR_THREADS, DEFAULT_ACTORS

    parser = commands.add_parser(
        "estimate",
        help="estimate poses in images, folders and lists of images",
        description="Estimate poses in image files, folders, glob patterns and @LIST files (a text file of paths, "
        "one per line): print them as JSON (upstream's pose structure) or stream one record per image (--jsonl, "
        "--parquet), optionally drawing them. An image that cannot be read gets an error record and the job goes "
        "on; the exit status is 1 when any image failed.",
    )
    parser.add_argument(
        "images", nargs="+", metavar="SOURCE", help="image files, folders, glob patterns or @LIST (a file of paths)"
    )
    parser.add_argument("--recursive", action="store_true", help="read the folders' subfolders too; ** in patterns")
    parser.add_argument("--multi", action="store_true", help="multi-pose decoding (default: single pose)")
    _model_options(parser)
    _fast_decode_option(parser)
    outputs = parser.add_argument_group("outputs (default: the JSON list on standard output)")
    outputs.add_argument("--json", metavar="OUT", help="write the JSON list to OUT at the end (a file, or - for standard output)")
    outputs.add_argument("--jsonl", metavar="OUT", help="write one JSON record per image to OUT as it comes (- for standard output)")
    outputs.add_argument("--parquet", metavar="OUT", help="write one row per pose to OUT (needs the parquet extra)")
    outputs.add_argument(
        "--draw", type=_path, metavar="DIR", help="write each image with its poses drawn to DIR/<name>.poses.png"
    )
    outputs.add_argument("--resume", action="store_true", help="skip the images already in the --jsonl OUT; append the rest")
    outputs.add_argument(
        "--on-error", choices=("continue", "fail"), default="continue",
        help="continue (default): a failed image gets an error record; fail: stop at the first",
    )
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=("local", "ray"), default="local", help="local (default) or ray (Ray Data; the ray extra)")
    engine.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
        help=f"local on a GPU: images per network batch (default {DEFAULT_BATCH_SIZE})",
    )
    engine.add_argument(
        "--threads", type=int, metavar="N",
        help=f"local, 1 to {MAX_READ_THREADS}: on the CPU, threads that each read and estimate images, on a network "
        "of one thread (default: the cores); on a GPU, image reading threads (default: the cores, at most 4)",
    )
    engine.add_argument("--ray-address", metavar="ADDR", help="ray: the cluster to join (default $RAY_ADDRESS, else a local Ray)")
    engine.add_argument("--actors", type=int, default=DEFAULT_ACTORS, metavar="N", help=f"ray: PoseNet actors (default {DEFAULT_ACTORS})")
    engine.add_argument(
        "--actor-threads", type=int, default=DEFAULT_ACTOR_THREADS, metavar="N",
        help=f"ray: CPU threads per actor (default {DEFAULT_ACTOR_THREADS})",
    )


def _evaluate(commands: argparse._SubParsersAction) -> None:
    from posenet_onnx.contract import DEFAULT_OUTPUT_STRIDE, DEFAULT_PRECISION, OUTPUT_STRIDES, PRECISIONS
    from posenet_onnx.decode import REFINEMENTS
    from posenet_onnx.runtime.settings import EstimateSettings

    defaults = EstimateSettings()
    parser = commands.add_parser(
        "evaluate",
        help="accuracy (COCO keypoint OKS AP) on annotated images (needs the eval extra)",
        description="COCO keypoint accuracy (OKS AP, AP50, AP75, APm, APl, AR; pycocotools) on annotated images, for "
        "one configuration or a sweep, printed as one table. Without sweep options: multi-pose with the defaults, "
        "like `estimate --multi`. The sweep options take one or more values; every combination is evaluated.",
        conflict_handler="resolve",  # the sweep options below replace the model options' one-value forms
    )
    parser.add_argument("--annotations", required=True, metavar="COCO.json", help="COCO keypoint annotations")
    parser.add_argument("--images", required=True, metavar="DIR", help="the folder the annotations' file_names are in")
    _model_options(parser)
    _fast_decode_option(parser)
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument(
        "--scale", type=float, nargs="+", default=None, metavar="S",
        help=f"image scale factors (default: the preset's, {defaults.image_scale_factor} for original)",
    )
    sweep.add_argument(
        "--output-stride", type=int, nargs="+", default=None, choices=OUTPUT_STRIDES, metavar="N",
        help=f"default: the preset's ({DEFAULT_OUTPUT_STRIDE} for original; a --model file: its own)",
    )
    sweep.add_argument(
        "--precision", nargs="+", default=[DEFAULT_PRECISION], choices=PRECISIONS, metavar="P", help=f"default {DEFAULT_PRECISION}"
    )
    sweep.add_argument("--mode", nargs="+", default=["multi"], choices=("single", "multi"), metavar="M", help="single, multi (default)")
    sweep.add_argument(
        "--refinement", nargs="+", default=None, choices=tuple(REFINEMENTS), metavar="R",
        help="multi-pose decoder: v1 (posenet 1.0.3), v2 (posenet 2.x) (default: the preset's, v1 for original)",
    )
    sweep.add_argument(
        "--flip-test", type=_on_off, nargs="*", default=None, metavar="on|off",
        help="the flip test off and/or on, e.g. --flip-test off on; a bare --flip-test is on (default: the preset's, "
        "off for original)",
    )
    parser.add_argument("--json", metavar="OUT", help="write the rows (configuration and metrics) to OUT")
    parser.add_argument(
        "--detections", metavar="OUT", help="write the COCO results file to OUT (a sweep: one per configuration, OUT_<tag>)"
    )


def _video(commands: argparse._SubParsersAction) -> None:
    from posenet_onnx.runtime.video.pipeline import ENCODER_PRESETS, MAX_CRF, Encoding
    from posenet_onnx.runtime.video.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF
    from posenet_onnx.runtime.video.tracking import DEFAULT_MAX_AGE, DEFAULT_MIN_POSE_SCORE

    parser = commands.add_parser(
        "video",
        help="estimate poses in a video file or camera stream",
        description="Estimate poses in every frame of a video file or camera: a video with the skeletons drawn "
        "and/or one JSON line per frame. Ctrl-C stops early and keeps both files complete.",
    )
    parser.add_argument("input", help="video file, or camera index (0 for the first camera)")
    parser.add_argument("-o", "--output", help="output video with the skeletons drawn (.mp4, .mkv or .mov)")
    parser.add_argument("--jsonl", help="write one JSON line per frame: frame index, timestamp (s), poses")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--single", action="store_true", help="one pose per frame")
    mode.add_argument("--multi", action="store_true", help="several poses per frame (the default)")
    _model_options(parser)
    parser.add_argument(
        "--fast-decode", action="store_true",
        help="--jsonl alone: ffmpeg reads a file's frames at the network's input size (faster; poses close to, "
        "not identical with, those of whole frames)",
    )
    encoding = parser.add_argument_group("output video encoding (H.264)")
    encoding.add_argument(
        "--encoder-preset", choices=ENCODER_PRESETS, default=Encoding.preset, metavar="PRESET",
        help=f"x264's speed preset: {', '.join(ENCODER_PRESETS[:4])}, ... (default {Encoding.preset}, the least CPU; "
        "slower presets make smaller files)",
    )
    encoding.add_argument(
        "--crf", type=int, default=Encoding.crf, metavar="N",
        help=f"quality, 0 (lossless) to {MAX_CRF} (worst); higher makes smaller files (default {Encoding.crf})",
    )
    tracking = parser.add_argument_group("person tracking (off by default)")
    tracking.add_argument(
        "--track",
        action="store_true",
        help='stable person IDs across frames: "id" in each JSON pose, skeletons drawn in their ID\'s colour',
    )
    tracking.add_argument(
        "--track-max-age",
        type=int,
        default=DEFAULT_MAX_AGE,
        metavar="FRAMES",
        help=f"frames a person may go unseen and keep their ID (default {DEFAULT_MAX_AGE})",
    )
    tracking.add_argument(
        "--track-min-score",
        type=float,
        default=DEFAULT_MIN_POSE_SCORE,
        metavar="SCORE",
        help=f'poses scoring less get "id": null and start no track (default {DEFAULT_MIN_POSE_SCORE})',
    )
    smoothing = parser.add_argument_group("temporal smoothing (off by default)")
    smoothing.add_argument(
        "--smooth", action="store_true", help="smooth keypoints across frames (One Euro filter; per person with --track)"
    )
    smoothing.add_argument(
        "--smooth-min-cutoff",
        type=float,
        default=DEFAULT_MIN_CUTOFF,
        metavar="HZ",
        help=f"cutoff for keypoints that move as expected; lower is smoother (default {DEFAULT_MIN_CUTOFF})",
    )
    smoothing.add_argument(
        "--smooth-beta",
        type=float,
        default=DEFAULT_BETA,
        metavar="BETA",
        help=f"cutoff increase per unit of surprise (pose sizes/s); higher lags less (default {DEFAULT_BETA})",
    )


def _fast_decode_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fast-decode", action="store_true",
        help="decode JPEGs at 1/2, 1/4 or 1/8 size where the network input needs no more pixels (faster; poses "
        "still in the full image's pixels, close to but not identical with the full decode's)",
    )


def _web(commands: argparse._SubParsersAction) -> None:
    from posenet_onnx.contract import DEFAULT_MULTIPLIER, DEFAULT_OUTPUT_STRIDE, MULTIPLIERS, OUTPUT_STRIDES

    parser = commands.add_parser(
        "web",
        help="build a static web site that runs PoseNet in the browser, or serve one locally",
        description="Build a self-contained static web site (-o SITE): posenet.js, posenet 1.0.3's JavaScript API on "
        "onnxruntime-web, the camera demo (index.html), the single- and multi-pose graphs of each multiplier and "
        "output stride, and onnxruntime-web's files. --serve serves a site on 127.0.0.1 with the headers that give "
        "onnxruntime-web its threads.",
    )
    parser.add_argument("site", nargs="?", type=_path, metavar="SITE", help="with --serve: the site folder to serve")
    parser.add_argument("-o", "--output", type=_path, metavar="SITE", help="build the site into this folder (new, empty, or a site built before)")
    parser.add_argument(
        "--multiplier", type=float, nargs="+", default=[DEFAULT_MULTIPLIER], choices=MULTIPLIERS, metavar="M",
        help=f"the models' widths: {', '.join(map(str, MULTIPLIERS))} (default {DEFAULT_MULTIPLIER}); several make the page's choice",
    )
    parser.add_argument(
        "--output-stride", type=int, nargs="+", default=[DEFAULT_OUTPUT_STRIDE], choices=OUTPUT_STRIDES, metavar="S",
        help=f"output strides {', '.join(map(str, OUTPUT_STRIDES))} (default {DEFAULT_OUTPUT_STRIDE}); 0.50 and 0.75 stop at 16",
    )
    parser.add_argument(
        "--onnxruntime-web", type=_path, metavar="DIR",
        help="the onnxruntime-web npm package's folder (or its dist/) to copy from (default: fetch the pinned release with npm once)",
    )
    parser.add_argument("--model-dir", type=_path, metavar="DIR", help="folder of exported graphs (default $POSENET_ONNX_MODEL_DIR or the cache)")
    parser.add_argument(
        "--checkpoint-dir", type=_path, metavar="DIR",
        help="offline folder of mobilenet_v1_XXX/ checkpoints, for graphs that must be exported (default $POSENET_ONNX_CHECKPOINT_DIR, else download)",
    )
    serve = parser.add_argument_group("serving")
    serve.add_argument("--serve", action="store_true", help="serve the site on 127.0.0.1 until Ctrl-C")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")


def _model_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose the model and how it estimates, shared by the commands that estimate; their
    choices and defaults are the library's."""
    from posenet_onnx.contract import DEFAULT_MULTIPLIER, DEFAULT_OUTPUT_STRIDE, DEFAULT_PRECISION, MULTIPLIERS, OUTPUT_STRIDES, PRECISIONS
    from posenet_onnx.runtime.providers import DEFAULT_DEVICE, DEVICES
    from posenet_onnx.decode import REFINEMENTS
    from posenet_onnx.runtime.settings import DEFAULT_PRESET, MAX_SCALE_FACTOR, MIN_SCALE_FACTOR, PRESETS, EstimateSettings

    defaults = EstimateSettings()
    model = parser.add_argument_group("model")
    model.add_argument(
        "--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
        help=f"the defaults of --scale, --output-stride, --refinement and --flip-test (explicit options override "
        f"them): {_describe_presets(PRESETS)} (default {DEFAULT_PRESET})",
    )
    model.add_argument(
        "--multiplier", type=float, default=DEFAULT_MULTIPLIER, choices=MULTIPLIERS, help=f"model width (default {DEFAULT_MULTIPLIER})"
    )
    model.add_argument(
        "--output-stride", type=int, default=None, choices=OUTPUT_STRIDES,
        help=f"default: the preset's ({DEFAULT_OUTPUT_STRIDE} for original; a --model file: its own)",
    )
    model.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION, help=f"graph precision (default {DEFAULT_PRECISION})")
    model.add_argument("--model", type=_path, metavar="FILE", help="an exported .onnx graph to run (its metadata says the rest)")
    model.add_argument(
        "--scale", type=float, default=None,
        help=f"image scale factor in [{MIN_SCALE_FACTOR}, {MAX_SCALE_FACTOR}] (default: the preset's, "
        f"{defaults.image_scale_factor} for original)",
    )
    model.add_argument("--flip", action="store_true", help="mirror the input left to right first (a selfie view)")
    model.add_argument(
        "--refinement", choices=tuple(REFINEMENTS), default=None,
        help="multi-pose decoder: v1 (posenet 1.0.3), v2 (posenet 2.x; more accurate) (default: the preset's, v1 for original)",
    )
    model.add_argument(
        "--flip-test", action=argparse.BooleanOptionalAction, default=None,
        help="also run the network on the mirrored image and average both (more accurate, about twice the network "
        "time) (default: the preset's, off for original)",
    )
    model.add_argument(
        "--max-poses", type=int, default=defaults.max_pose_detections,
        help=f"multi-pose: most poses per image (default {defaults.max_pose_detections})",
    )
    model.add_argument(
        "--score-threshold", type=float, default=defaults.score_threshold,
        help=f"multi-pose: root part score threshold (default {defaults.score_threshold})",
    )
    model.add_argument(
        "--nms-radius", type=float, default=defaults.nms_radius,
        help=f"multi-pose: in model-input pixels (default {defaults.nms_radius})",
    )
    model.add_argument("--model-dir", type=_path, metavar="DIR", help="folder of exported graphs (default $POSENET_ONNX_MODEL_DIR or the cache)")
    model.add_argument(
        "--checkpoint-dir",
        type=_path,
        metavar="DIR",
        help="offline folder of mobilenet_v1_XXX/ checkpoints, used when a missing graph is exported "
        "(default $POSENET_ONNX_CHECKPOINT_DIR, else download)",
    )
    model.add_argument("--device", choices=DEVICES, default=DEFAULT_DEVICE, help=f"default {DEFAULT_DEVICE}: CUDA if usable, else CPU")


COMMANDS = {"export": _export, "estimate": _estimate, "video": _video, "evaluate": _evaluate, "web": _web}


def build_parser() -> argparse.ArgumentParser:
    from posenet_onnx import __version__

    parser = _Parser(
        prog="posenet-onnx",
        description="PoseNet pose estimation on ONNX Runtime: export the models, estimate poses in images and video.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for declare in COMMANDS.values():
        declare(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand (in a process that keeps the memory it frees, for the
    next image or frame: commands/memory.py); user errors exit with status 2 and one line. Ctrl-C,
    SIGTERM and SIGHUP stop it with status 128 + the signal's number, from the first moment (the parser's
    imports included)."""
    from posenet_onnx.commands.memory import keep_freed_memory
    from posenet_onnx.commands.terminal import signals_as_interrupts, stop_received

    kept: list[str] = []
    prefix = "posenet-onnx"
    with signals_as_interrupts():
        try:
            args = build_parser().parse_args(argv)
            prefix = f"posenet-onnx {args.command}"
            command = importlib.import_module(f"posenet_onnx.commands.{args.command}")
            keep_freed_memory()
            status = int(command.run(args, kept) or 0)
            return _interrupted(prefix, kept) if stop_received() else status
        except KeyboardInterrupt:
            return _interrupted(prefix, kept)
        except Exception as exc:  # noqa: BLE001 (every failure is one line; POSENET_ONNX_DEBUG shows the traceback)
            return _failed(prefix, kept, exc)


def _failed(prefix: str, kept: list[str], exc: Exception) -> int:
    """Any other failure: one line, exit status 2, below the native log it carries (`stderr.captured_stderr`).
    A failure once a stop signal has arrived is the interruption: a Ctrl-C that a C extension reported as its
    error, or one a dependency swallowed and then failed on what it left half done."""
    from posenet_onnx.commands.terminal import describe_os_error, stop_received
    from posenet_onnx.outputs import caused_by_interrupt

    if os.environ.get(ENV_DEBUG):
        raise exc
    if caused_by_interrupt(exc) or stop_received():
        return _interrupted(prefix, kept)
    for note in getattr(exc, "__notes__", ()):
        print(note, file=sys.stderr)
    if isinstance(exc, OSError):
        message = describe_os_error(exc)
    elif isinstance(exc, ImportError):
        message = str(exc)
    else:
        message = str(exc) or type(exc).__name__
    print(f"{prefix}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _interrupted(prefix: str, kept: list[str]) -> int:
    """Stopped by Ctrl-C, SIGTERM or SIGHUP: one line naming the signal (Ctrl-C: just "interrupted") and the
    complete files kept; exit status 128 + the signal's number (130 for Ctrl-C)."""
    from posenet_onnx.commands.terminal import stop_signal
    from posenet_onnx.outputs import STOP_SIGNALS

    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:  # stopping anyway: a further signal changes nothing
            signal.signal(signum, signal.SIG_IGN)
    signum = stop_signal()
    how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    note = f"; kept complete: {', '.join(kept)}" if kept else ""
    print(f"{prefix}: {how}{note}", file=sys.stderr)
    return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
