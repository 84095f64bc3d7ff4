"""The `posenet-onnx` console command; each stage registers its own subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from posenet_onnx import __version__
    from posenet_onnx.export.cli import register as register_export
    from posenet_onnx.runtime.cli import register as register_runtime
    from posenet_onnx.runtime.video import register as register_video

    parser = argparse.ArgumentParser(
        prog="posenet-onnx",
        description="PoseNet pose estimation on ONNX Runtime: export the models, estimate poses in images and video.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_export(commands)
    register_runtime(commands)
    register_video(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen subcommand; user errors exit with status 2 and one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"posenet-onnx {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"posenet-onnx {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
