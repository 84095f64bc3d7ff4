"""Runtime: the original PoseNet API on ONNX Runtime (CUDA or CPU); never imports TensorFlow."""
