"""The package installs under one import name, `posenet_onnx`, both as a built wheel and editable."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO

SUBPACKAGES = ("posenet_onnx.export", "posenet_onnx.runtime", "posenet_onnx.decode")


def test_wheel_installs_only_posenet_onnx_and_imports(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO)],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("posenet_onnx-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"posenet_onnx"}
    for package in (*SUBPACKAGES, "posenet_onnx.commands"):
        assert package.replace(".", "/") + "/__init__.py" in names
    assert not [n for n in names if "reference" in n or "synthetic" in n]  # test-only helpers stay in tests/
    for page in ("index.html", "demo.js", "posenet.js", "style.css"):  # the web site's files are package data
        assert f"posenet_onnx/runtime/web/static/{page}" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "posenet-onnx = posenet_onnx.cli:main" in entry_points

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
    )
    code = (
        "import importlib, sys\n"
        f"mods = [importlib.import_module(m) for m in {SUBPACKAGES!r}]\n"
        f"assert all(m.__file__.startswith({str(site)!r}) for m in mods), [m.__file__ for m in mods]\n"
        "assert importlib.util.find_spec('export') is None and importlib.util.find_spec('decode') is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env={"PYTHONPATH": str(site)})


def test_editable_install_maps_the_stage_folders(tmp_path: Path) -> None:
    code = (
        "import importlib\n"
        f"for name in {SUBPACKAGES!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    print(module.__file__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, capture_output=True, text=True)
    files = [Path(line) for line in out.stdout.split()]
    assert [f.parent for f in files] == [REPO / "export", REPO / "runtime", REPO / "decode"]
