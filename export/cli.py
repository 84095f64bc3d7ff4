"""The `posenet-onnx` subcommands of the export stage."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add this stage's subcommands to the `posenet-onnx` parser."""
