"""The `posenet-onnx video` subcommand: poses in video files and camera streams."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `video` subcommand to the `posenet-onnx` parser."""
