"""The static web site: the page files, onnxruntime-web's files and the self-contained graphs, in one folder
that any static host serves (nothing is requested off its origin).

    SITE/index.html, demo.js, style.css    the camera demo
    SITE/posenet.js                        posenet 1.0.3's API on onnxruntime-web
    SITE/onnxruntime-web/                  onnxruntime-web's WebAssembly build
    SITE/models/manifest.json              what the site holds: graphs, keypoint tables, versions
    SITE/models/*.onnx                     the single- and multi-pose graphs of each multiplier and stride

A site is built in a hidden folder beside SITE and renamed into place only when complete; a site built
before (its manifest says so) is replaced, any other non-empty folder is refused.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from posenet_onnx import __version__
from posenet_onnx.contract import DECODERS, model_filename, validate_model
from posenet_onnx.keypoints import CONNECTED_PART_NAMES, PART_NAMES, POSE_CHAIN
from posenet_onnx.outputs import OutputError, check_writable_folder, interrupts_deferred
from posenet_onnx.runtime.model_files import graph_file
from posenet_onnx.runtime.web.onnxruntime_web import FILES as RUNTIME_FILES
from posenet_onnx.runtime.web.onnxruntime_web import RuntimeFiles

PAGE_FILES: tuple[str, ...] = ("index.html", "demo.js", "posenet.js", "style.css")
RUNTIME_FOLDER = "onnxruntime-web"
MODELS_FOLDER = "models"
MANIFEST = f"{MODELS_FOLDER}/manifest.json"
GENERATOR = "posenet-onnx"


@dataclass(frozen=True)
class SiteGraph:
    """One graph of the site: what it is and the file it is copied from."""

    multiplier: float
    output_stride: int
    decoder: str
    source: Path

    @property
    def filename(self) -> str:
        return model_filename(self.multiplier, self.output_stride, decoder=self.decoder)


def site_models(multipliers: Sequence[float], output_strides: Sequence[int]) -> list[tuple[float, int]]:
    """Every (multiplier, output stride) pair asked for, checked (0.50 and 0.75 stop at 16), in order, once each."""
    models = [validate_model(m, s) for m in multipliers for s in output_strides]
    return list(dict.fromkeys(models))


def site_graphs(models: Sequence[tuple[float, int]], model_dir: Path, checkpoint_dir: Path | None) -> list[SiteGraph]:
    """The graphs of every model and in-graph decoder: from `model_dir`, exported there first when missing."""
    return [
        SiteGraph(multiplier, stride, decoder, graph_file(multiplier, stride, "fp32", model_dir, checkpoint_dir, decoder))
        for multiplier, stride in models
        for decoder in DECODERS
    ]


def check_site_folder(site: Path, inputs: Sequence[Path] = ()) -> None:
    """Refuse, before any work, a site folder that must not be written: a symlink, a file, a folder of other
    files, one that cannot take a new folder beside it, or one that holds an input of the build."""
    if site.is_symlink():
        raise OutputError(f"The site folder {site} is a symbolic link; give the real folder.")
    if site.exists() and not site.is_dir():
        raise OutputError(f"The site folder {site} is a file; give a new or empty folder.")
    if site.is_dir() and any(site.iterdir()) and not is_site(site):
        raise OutputError(
            f"The site folder {site} holds files that are not a site this command built; give a new or empty folder."
        )
    real = site.resolve()
    for path in inputs:
        if path.exists() and (path.resolve() == real or real in path.resolve().parents):
            raise OutputError(f"{path} is inside the site folder {site}, which the build replaces; give another site folder.")
    check_writable_folder(real.parent, "site's parent folder")


def is_site(folder: Path) -> bool:
    """Whether `folder` holds a site this command built (its manifest names the generator)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and str(manifest.get("generator", "")).startswith(GENERATOR)


def build_site(site: Path, graphs: Sequence[SiteGraph], runtime: RuntimeFiles) -> Path:
    """Write the site into `site` (checked with `check_site_folder` first), complete or not at all."""
    real = site.resolve()
    staging = real.with_name(f".{real.name}.{secrets.token_hex(4)}.partial")
    try:
        staging.mkdir()
        _write_site(staging, graphs, runtime)
        _put_in_place(staging, real)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return site


def _write_site(folder: Path, graphs: Sequence[SiteGraph], runtime: RuntimeFiles) -> None:
    static = resources.files("posenet_onnx.runtime.web").joinpath("static")
    for name in PAGE_FILES:
        (folder / name).write_bytes(static.joinpath(name).read_bytes())
    (folder / RUNTIME_FOLDER).mkdir()
    for name in RUNTIME_FILES:
        shutil.copyfile(runtime.folder / name, folder / RUNTIME_FOLDER / name)
    (folder / MODELS_FOLDER).mkdir()
    for graph in graphs:
        shutil.copyfile(graph.source, folder / MODELS_FOLDER / graph.filename)
    (folder / MANIFEST).write_text(json.dumps(manifest(graphs, runtime), indent=1) + "\n", encoding="utf-8")


def manifest(graphs: Sequence[SiteGraph], runtime: RuntimeFiles) -> dict:
    """What posenet.js reads: the graphs, the keypoint tables, and what made the site."""
    return {
        "generator": f"{GENERATOR} {__version__}",
        "onnxruntimeWeb": runtime.version,
        "partNames": list(PART_NAMES),
        "poseChain": [list(pair) for pair in POSE_CHAIN],
        "connectedPartNames": [list(pair) for pair in CONNECTED_PART_NAMES],
        "graphs": [
            {"multiplier": g.multiplier, "outputStride": g.output_stride, "decoder": g.decoder, "file": g.filename}
            for g in graphs
        ],
    }


def _put_in_place(staging: Path, site: Path) -> None:
    """Rename the complete site onto `site`: a new or empty folder directly, a site built before via a swap
    (the old one is removed once the new one is in place); Ctrl-C is held back meanwhile."""
    with interrupts_deferred():
        if not site.exists() or not any(site.iterdir()):
            os.replace(staging, site)
            return
        old = site.with_name(f".{site.name}.{secrets.token_hex(4)}.old.partial")
        os.rename(site, old)
        try:
            os.rename(staging, site)
        except BaseException:
            os.rename(old, site)
            raise
    shutil.rmtree(old)
