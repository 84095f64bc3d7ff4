"""The MobileNetV1 backbone of PoseNet 1.x: block list per multiplier and the atrous rule per output stride."""

from __future__ import annotations

from dataclasses import dataclass

from posenet_onnx.contract import validate_model

CONV2D = "conv2d"
SEPARABLE = "separable"

# (type, stride) of the 14 blocks. The 1.00/1.01 backbone has a fifth stride-2 layer at block 12;
# the 0.50/0.75 one runs block 12 at stride 1, so it stops at stride 16.
_BLOCKS_100: tuple[tuple[str, int], ...] = (
    (CONV2D, 2),
    (SEPARABLE, 1),
    (SEPARABLE, 2),
    (SEPARABLE, 1),
    (SEPARABLE, 2),
    (SEPARABLE, 1),
    (SEPARABLE, 2),
    (SEPARABLE, 1),
    (SEPARABLE, 1),
    (SEPARABLE, 1),
    (SEPARABLE, 1),
    (SEPARABLE, 1),
    (SEPARABLE, 2),
    (SEPARABLE, 1),
)
_BLOCKS_50_75: tuple[tuple[str, int], ...] = _BLOCKS_100[:12] + ((SEPARABLE, 1),) + _BLOCKS_100[13:]
NUM_BLOCKS = len(_BLOCKS_100)


@dataclass(frozen=True)
class Block:
    """One backbone block as it runs at a given output stride (dilation applies to depthwise convs only)."""

    index: int
    kind: str
    stride: int
    dilation: int


def block_types(multiplier: float) -> tuple[tuple[str, int], ...]:
    """The (type, stride) list of the backbone for a multiplier."""
    multiplier, _ = validate_model(multiplier, 16)
    return _BLOCKS_100 if multiplier >= 1.0 else _BLOCKS_50_75


def backbone(multiplier: float, output_stride: int) -> tuple[Block, ...]:
    """Blocks with the stride and dilation they run at, by upstream's atrous rule.

    Once the running stride reaches `output_stride`, later blocks keep stride 1 and dilate their
    depthwise convolutions instead, so the feature map stays at `output_stride` of the input.
    """
    multiplier, output_stride = validate_model(multiplier, output_stride)
    current_stride, rate = 1, 1
    blocks = []
    for index, (kind, block_stride) in enumerate(block_types(multiplier)):
        if current_stride == output_stride:
            blocks.append(Block(index, kind, 1, rate))
            rate *= block_stride
        else:
            blocks.append(Block(index, kind, block_stride, 1))
            current_stride *= block_stride
    return tuple(blocks)


def final_stride(blocks: tuple[Block, ...]) -> int:
    """The stride of the backbone's output relative to its input."""
    stride = 1
    for block in blocks:
        stride *= block.stride
    return stride
