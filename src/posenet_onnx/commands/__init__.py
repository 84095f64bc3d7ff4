"""The subcommands' work: `run(args, kept)` per command, for the arguments `posenet_onnx.cli` parsed.

`kept` collects the outputs an interrupted command kept complete, for the one line the CLI prints.
"""
