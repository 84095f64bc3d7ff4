"""`posenet-onnx web`: build the static web site (PoseNet in the browser), and/or serve one locally."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from posenet_onnx.contract import default_model_dir


def run(args: argparse.Namespace, kept: list[str]) -> int:
    """Build the site named by -o (checked whole before the slow steps), then serve it or the one named."""
    served = _served_site(args)
    if args.output is not None:
        _build(args)
    if served is not None:
        _serve(served, args.port)
    return 0


def _served_site(args: argparse.Namespace) -> Path | None:
    """The folder --serve serves (None without --serve); refuse a SITE without --serve, or two different sites."""
    if not args.serve:
        if args.site is not None:
            raise ValueError(f"A site folder ({args.site}) as an argument is for --serve; build a site with -o {args.site}.")
        if args.output is None:
            raise ValueError("Nothing to do: give -o SITE to build a site, and/or --serve [SITE] to serve one.")
        return None
    if args.site is not None and args.output is not None and args.site.resolve() != args.output.resolve():
        raise ValueError(f"-o {args.output} builds one site and --serve {args.site} names another; give one folder.")
    served = args.site if args.site is not None else args.output
    if served is None:
        raise ValueError("--serve needs the site folder: posenet-onnx web --serve SITE (or -o SITE to build it first).")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"Invalid port {args.port}; give 1 to 65535, or 0 for any free port.")
    return served


def _build(args: argparse.Namespace) -> None:
    from posenet_onnx.runtime.web.onnxruntime_web import runtime_files
    from posenet_onnx.runtime.web.site import build_site, check_site_folder, site_graphs, site_models

    models = site_models(args.multiplier, args.output_stride)
    model_dir = args.model_dir or default_model_dir()
    inputs = [path for path in (args.onnxruntime_web, model_dir, args.checkpoint_dir) if path is not None]
    check_site_folder(args.output, inputs)
    runtime = runtime_files(args.onnxruntime_web)
    graphs = site_graphs(models, model_dir, args.checkpoint_dir)
    build_site(args.output, graphs, runtime)
    print(
        f"site: {len(graphs)} graphs (multiplier {', '.join(f'{m:.2f}' for m in dict.fromkeys(m for m, _ in models))}; "
        f"output stride {', '.join(str(s) for s in dict.fromkeys(s for _, s in models))}), "
        f"onnxruntime-web {runtime.version}",
        file=sys.stderr,
    )
    print(args.output, flush=True)


def _serve(site: Path, port: int) -> None:
    from posenet_onnx.runtime.web.server import address, site_server

    server = site_server(site, port)
    try:
        print(f"serving {site} at {address(server)} (Ctrl-C stops)", flush=True)
        server.serve_forever()
    finally:
        server.server_close()
