"""Runtime: the original PoseNet API on ONNX Runtime (CUDA or CPU); never imports TensorFlow.

The modules here are the core (load, PoseNet, its settings, images, resize, sessions, poses, drawing); the
sub-packages are applications built on it: `batch` (folder jobs, Ray), `evaluation` (COCO accuracy) and
`video` (video files and cameras, tracking, smoothing). The core never imports an application.
"""
