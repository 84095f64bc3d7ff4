"""The checkpoint loader on the real 0.50 checkpoint, the real manifests, and broken copies of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from posenet_onnx.export.checkpoint import CheckpointError, load_checkpoint, parse_manifest, required_variables
from posenet_onnx.export.download import locate_checkpoint

UNUSED_HEAD_MARKERS = ("_1/", "partheat", "partoff", "segment")


@pytest.fixture
def real_copy(checkpoint_dir: Path, tmp_path: Path) -> Path:
    """A scratch copy of the real 0.50 checkpoint (in tmp, never in the repository) to break."""
    return Path(shutil.copytree(checkpoint_dir / "mobilenet_v1_050", tmp_path / "mobilenet_v1_050"))


def edit_manifest(folder: Path, edit) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_loads_the_real_checkpoint(checkpoint_dir: Path):
    folder = checkpoint_dir / "mobilenet_v1_050"
    checkpoint = load_checkpoint(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert checkpoint.name == "mobilenet_v1_050"
    assert sorted(checkpoint.variables) == sorted(required_variables())
    for name, values in checkpoint.variables.items():
        raw = np.fromfile(folder / manifest[name]["filename"], dtype="<f4").reshape(manifest[name]["shape"])
        assert values.dtype == np.float32
        np.testing.assert_array_equal(values, raw)
    # Widths come from the manifest: 0.50 stays at 256 channels for blocks 10-13.
    assert checkpoint.variables["MobilenetV1/Conv2d_13_pointwise/weights"].shape == (1, 1, 256, 256)


def test_served_manifest_unused_heads_are_ignored(shared: Path):
    served = (shared / "manifests" / "served-mobilenet_v1_10x.json").read_text()
    assert any(marker in name for name in json.loads(served) for marker in UNUSED_HEAD_MARKERS)
    entries = parse_manifest(served, "served")
    assert list(entries) == list(required_variables())
    assert entries["MobilenetV1/Conv2d_13_pointwise/weights"].shape == (1, 1, 1024, 1024)


def test_unused_files_may_be_absent(real_copy: Path):
    manifest = json.loads((real_copy / "manifest.json").read_text())
    for name, entry in manifest.items():
        if "_1/" in name:
            (real_copy / entry["filename"]).unlink()
    assert len(load_checkpoint(real_copy).variables) == len(required_variables())


def test_missing_variable_names_manifest_and_variable(real_copy: Path):
    edit_manifest(real_copy, lambda m: m.pop("MobilenetV1/offset_2/weights"))
    with pytest.raises(CheckpointError, match=r"manifest\.json has no variable 'MobilenetV1/offset_2/weights'"):
        load_checkpoint(real_copy)


def test_wrong_byte_size_names_the_file(real_copy: Path):
    path = real_copy / "MobilenetV1_Conv2d_5_pointwise_weights"
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(CheckpointError, match=r"MobilenetV1_Conv2d_5_pointwise_weights has 65532 bytes.*needs 65536"):
        load_checkpoint(real_copy)


def test_missing_file_names_the_file(real_copy: Path):
    (real_copy / "MobilenetV1_heatmap_2_biases").unlink()
    with pytest.raises(CheckpointError, match=r"MobilenetV1_heatmap_2_biases .*not found"):
        load_checkpoint(real_copy)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"MobilenetV1/Conv2d_0/weights": {"shape": [3]}}'])
def test_unreadable_manifest_names_it(real_copy: Path, text: str):
    (real_copy / "manifest.json").write_text(text)
    with pytest.raises(CheckpointError, match=r"manifest\.json"):
        load_checkpoint(real_copy)


def test_inconsistent_shapes_name_the_variable(real_copy: Path):
    edit_manifest(
        real_copy, lambda m: m["MobilenetV1/Conv2d_3_depthwise/depthwise_weights"].update(shape=[3, 3, 32, 1])
    )
    with pytest.raises(
        CheckpointError, match=r"Conv2d_3_depthwise/depthwise_weights.*shape \[3, 3, 32, 1\], expected \[3, 3, 64, 1\]"
    ):
        load_checkpoint(real_copy)


@pytest.mark.parametrize(
    "filename",
    ["../../etc/passwd", "sub/file", "manifest.json", "MANIFEST.JSON", ".MobilenetV1_Conv2d_0_biases.1a2b3c4d.partial",
     ".hidden", "", ".", "..", "with space", "tab\tname", 7, None],
)
def test_filename_must_be_a_plain_name_apart_from_the_folder_s_own(real_copy: Path, filename):
    """No entry may name a path, the manifest itself (any case) or a hidden (temporary) file."""
    edit_manifest(real_copy, lambda m: m["MobilenetV1/Conv2d_0/biases"].update(filename=filename))
    with pytest.raises(
        CheckpointError,
        match=r"entry 'MobilenetV1/Conv2d_0/biases' has filename .*; a variable file must be a plain file name "
        r"\(letters, digits, '_', '-' and '\.', not starting with '\.'\) other than manifest\.json\.",
    ):
        load_checkpoint(real_copy)


def test_two_variables_cannot_share_a_file(real_copy: Path):
    edit_manifest(real_copy, lambda m: m["MobilenetV1/Conv2d_0/biases"].update(filename="mobilenetv1_conv2d_0_WEIGHTS"))
    edit_manifest(real_copy, lambda m: m["MobilenetV1/Conv2d_0/weights"].update(filename="MobilenetV1_Conv2d_0_weights"))
    with pytest.raises(CheckpointError, match="entry 'MobilenetV1/Conv2d_0/biases' reuses another variable's file"):
        load_checkpoint(real_copy)


def test_offline_folder_without_the_checkpoint(checkpoint_dir: Path, tmp_path: Path):
    # A folder of its own with only the 0.50 checkpoint (the shared folder may hold 0.75 too).
    (tmp_path / "mobilenet_v1_050").symlink_to(checkpoint_dir / "mobilenet_v1_050")
    with pytest.raises(
        CheckpointError, match=r"No checkpoint for multiplier 0\.75 in .*mobilenet_v1_075/manifest\.json"
    ):
        locate_checkpoint(0.75, tmp_path)


def test_offline_folder_from_environment(checkpoint_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("POSENET_ONNX_CHECKPOINT_DIR", str(checkpoint_dir))
    assert locate_checkpoint(0.5) == checkpoint_dir / "mobilenet_v1_050"


def test_unknown_multiplier_lists_the_valid_ones(checkpoint_dir: Path):
    with pytest.raises(ValueError, match=r"multiplier 0\.6; valid multipliers are 0\.50, 0\.75, 1\.00, 1\.01"):
        locate_checkpoint(0.6, checkpoint_dir)
