"""`EstimateSettings`: how images are estimated, checked once where it is made and trusted by every step after.

The public `PoseNet.estimate_*` methods build one from their arguments (upstream's names and defaults); the
folder jobs, Ray, evaluation and video take one whole. A new estimation setting is one field here, with its
check in `__post_init__`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real

from posenet_onnx.contract import validate_output_stride
from posenet_onnx.decode import validate_multi_pose_parameters

MIN_SCALE_FACTOR = 0.2
MAX_SCALE_FACTOR = 1.0

MultiPoseParameters = tuple[int, float, float, int]  # validate_multi_pose_parameters' result, as the kernels take it


def validate_scale_factor(image_scale_factor: float) -> float:
    """Upstream's check: the image scale factor must lie in [0.2, 1.0]."""
    if isinstance(image_scale_factor, bool) or not isinstance(image_scale_factor, Real) or not (
        MIN_SCALE_FACTOR <= image_scale_factor <= MAX_SCALE_FACTOR
    ):
        raise ValueError(
            f"image_scale_factor must be a number in [{MIN_SCALE_FACTOR}, {MAX_SCALE_FACTOR}]; got {image_scale_factor!r}."
        )
    return float(image_scale_factor)


@dataclass(frozen=True)
class EstimateSettings:
    """`estimate_single_pose` or (with `multi_pose`) `estimate_multiple_poses` arguments, with upstream's defaults.

    Every field is checked when the object is made (ValueError naming the bad one); the output stride against
    a model's multiplier is checked by the `PoseNet` that runs it (`PoseNet.check`). `output_stride` None is
    the model's own (16, or the stride of a graph loaded from its file). `refinement` is the multi-pose
    decoder: "v1" posenet 1.0.3's, "v2" posenet 2.x's.
    """

    multi_pose: bool = False
    image_scale_factor: float = 0.5
    flip_horizontal: bool = False
    output_stride: int | None = None
    max_pose_detections: int = 5
    score_threshold: float = 0.5
    nms_radius: float = 20
    refinement: str = "v1"
    # The multi-pose parameters as the decoder's kernels take them; None for single-pose decoding.
    decoder_parameters: MultiPoseParameters | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: the checked values are stored once, here
        set_field(self, "multi_pose", bool(self.multi_pose))
        set_field(self, "image_scale_factor", validate_scale_factor(self.image_scale_factor))
        set_field(self, "flip_horizontal", bool(self.flip_horizontal))
        if self.output_stride is not None:
            set_field(self, "output_stride", validate_output_stride(self.output_stride))
        parameters = validate_multi_pose_parameters(
            self.max_pose_detections, self.score_threshold, self.nms_radius, self.refinement
        )
        set_field(self, "decoder_parameters", parameters if self.multi_pose else None)
