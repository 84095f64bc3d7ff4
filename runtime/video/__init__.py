"""Poses over time: video files and cameras through a three-stage pipeline (`pipeline`), person IDs across
frames (`tracking`) and temporally smoothed keypoints (`smoothing`). imageio and ffmpeg are imported only
when a video is opened."""
