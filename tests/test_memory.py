"""Session resources: the thread count is checked against its documented range before onnxruntime sees it."""

from __future__ import annotations

import pytest

from posenet_onnx.runtime.providers import MAX_INTRA_OP_THREADS, session_options


@pytest.mark.parametrize("threads", [0, -1, 2**31, 10**30, MAX_INTRA_OP_THREADS + 1, 2.0, True, "4"])
def test_intra_op_threads_outside_the_range_is_one_value_error(threads):
    """2**31 used to reach onnxruntime and come back as a raw TypeError."""
    with pytest.raises(ValueError, match=rf"intra_op_threads must be None .* or an integer from 1 to {MAX_INTRA_OP_THREADS}; got {threads!r}\."):
        session_options(threads)


@pytest.mark.parametrize("threads", [None, 1, 3, MAX_INTRA_OP_THREADS])
def test_intra_op_threads_in_the_range_reach_onnxruntime(threads):
    assert session_options(threads).intra_op_num_threads == (threads or 0)


def test_sessions_keep_the_arena_without_per_shape_memory_patterns():
    """Memory patterns grew the CPU arena when the input size kept changing (scripts/soak_memory.py measures it);
    the arena itself stays on: turning it off made every call slower."""
    options = session_options()
    assert options.enable_mem_pattern is False
    assert options.enable_cpu_mem_arena is True
