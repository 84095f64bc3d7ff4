"""Decoder: Numba-jitted single-pose and multi-pose decoding, identical to the original JavaScript package."""
