"""Export stage: PoseNet 1.x checkpoints to self-describing ONNX graphs (needs the `export` extra)."""
