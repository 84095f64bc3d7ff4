"""The command-line options that choose the model, as the CLI tests give them."""

from __future__ import annotations

from pathlib import Path


def model_args(model_dir: Path, *, multiplier: str | None = "0.5", device: str | None = "cpu") -> list[str]:
    """`--multiplier 0.5 --model-dir DIR --device cpu`: the real 0.50 graphs from `model_dir` on the CPU
    (None leaves an option out: the command's default, or one the test gives itself)."""
    args = [] if multiplier is None else ["--multiplier", multiplier]
    args += ["--model-dir", str(model_dir)]
    return args if device is None else [*args, "--device", device]
