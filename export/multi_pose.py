"""The self-contained multi-pose graph: the exported network wrapped in ONNX nodes that do what
estimate_multiple_poses does around it (posenet 1.0.3's decoder), so a runtime without Python gets every
pose from one session call. Default-domain operators only; no tensor is ever empty at run time.

Appended around the backbone, after the input path of decoder_graph.py (contract.MULTI_GRAPH_PARAMETERS in,
MULTI_GRAPH_OUTPUTS out), vectorised over the batch:

1. Candidates: every heatmap cell that is the maximum of its border-clipped 3 x 3 window (score >= MaxPool 3x3,
   whose padding never wins) and not below the threshold, sorted by score with TopK (equal scores: lower flat
   index (y, x, part) first; upstream's max-heap may pop equal scores in another order, docs/export.md). A
   candidate that is not real (an image with fewer than the batch's most) is blocked from the start; M >= 1.
2. Every candidate's pose, all M at once: a pose depends only on its root, so each non-root keypoint is the
   traversal from its neighbour on the pose chain towards the root (what upstream's backward-then-forward
   walk computes), taken level by level outwards from the root: 8 levels, each a batch of traversals
   [N, M, level width]. Each keypoint is (y, x, score) in float64, as JavaScript's doubles.
3. Greedy selection (a Loop over pose slots): the next pose is the first candidate in score order that is not
   blocked; it then blocks every candidate up to itself and every candidate whose root lies within
   nms_radius (<=) of its keypoint of the same part. Suppression only grows, so this is upstream's loop over
   the whole queue; it stops at max_pose_detections poses or when no candidate is left.
4. Instance scores (keypoint scores not within nms_radius of the same keypoint of an earlier pose, / 17),
   scaling to the input image's pixels, and zero rows up to max_pose_detections.

The network outputs are read through one table of rows of three values, N x H x W x 49 x 3: per heatmap cell
each keypoint's (offset dy, offset dx, score), then each edge's backward and then forward displacement (dy, dx,
dy again: never read). A lookup is a GatherND per image of (y, x, row): one index per three values, where
onnxruntime's gathers pay per index.
"""

from __future__ import annotations

from itertools import accumulate
from typing import TYPE_CHECKING

import numpy as np

from posenet_onnx.contract import (
    MAX_POSES_NAME,
    MULTI_GRAPH_OUTPUTS,
    NMS_RADIUS_NAME,
    OUTPUT_CHANNELS,
    OUTPUT_NAMES,
    SCORE_THRESHOLD_NAME,
)
from posenet_onnx.export.decoder_graph import Nodes, finish, take_input
from posenet_onnx.keypoints import NUM_EDGES, NUM_KEYPOINTS, POSE_CHAIN_IDS

if TYPE_CHECKING:
    import onnx

# The table's first row of each kind within a cell: keypoints' refinements, backward and forward displacements.
REFINEMENTS, BWD, FWD = 0, NUM_KEYPOINTS, NUM_KEYPOINTS + NUM_EDGES
ROWS = NUM_KEYPOINTS + 2 * NUM_EDGES
# floor(v + ROUNDING) is JavaScript's Math.round(v) for v >= 0 (_Decoder._near_cell)
ROUNDING = float(np.nextafter(0.5, 0.0))
PLANES = "network_planes"  # the four outputs as N x C x H x W, concatenated: what the table is made from


def table_channels() -> np.ndarray:
    """The channels (of the four outputs concatenated, contract order) of the table's 49 rows of three: (dy, dx,
    score) of each keypoint's offset, then (dy, dx, dy again: never read) of each edge's backward and forward
    displacement."""
    scores, offsets, forward, backward = accumulate((OUTPUT_CHANNELS[name] for name in OUTPUT_NAMES[:-1]), initial=0)
    keypoints = [(offsets + k, offsets + NUM_KEYPOINTS + k, scores + k) for k in range(NUM_KEYPOINTS)]
    edges = [(base + e, base + NUM_EDGES + e, base + e) for base in (backward, forward) for e in range(NUM_EDGES)]
    return np.array(keypoints + edges).reshape(-1)


def traversal_steps(root: int) -> list[tuple[int, int, int, int]]:
    """Upstream's decode order from `root`: (source, target, table row of the displacement, depth) per
    non-root keypoint; backwards along edges 15..0 (child to parent), then forwards along 0..15."""
    depth = {root: 0}
    steps = []
    for edges, base, source_end in ((range(NUM_EDGES - 1, -1, -1), BWD, 1), (range(NUM_EDGES), FWD, 0)):
        for edge in edges:
            source, target = POSE_CHAIN_IDS[edge][source_end], POSE_CHAIN_IDS[edge][1 - source_end]
            if source in depth and target not in depth:
                depth[target] = depth[source] + 1
                steps.append((int(source), int(target), base + edge, depth[target]))
    return steps


def path_tables() -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """Upstream's traversals of each root part laid out along the paths from the root to the pose chain's leaves.

    Slot i of level d holds the keypoint at depth d on path i, so it starts from slot i of level d - 1 (the root
    for level 1): a keypoint on several paths is computed once per path, identically. Returns the number of
    levels D (the deepest keypoint) and of paths W (the most any root part has), and per root part int64
    [17, D * W] the displacement's table row and the target's (its refinement row), level by level, and int64
    [17, 17, 1] each keypoint's column among [root, level 1 ... level D]. A slot past the end of its path, or
    of a root part with fewer paths, repeats finite lookups that no keypoint's column points at.
    """
    paths = []
    for root in range(NUM_KEYPOINTS):
        steps = {target: (source, row) for source, target, row, _ in traversal_steps(root)}
        sources = {source for source, _ in steps.values()}
        root_paths = []
        for leaf in (k for k in steps if k not in sources):
            path = [leaf]
            while steps[path[0]][0] != root:
                path.insert(0, steps[path[0]][0])
            root_paths.append([(target, steps[target][1]) for target in path])
        paths.append(sorted(root_paths))
    depth = max(len(path) for root_paths in paths for path in root_paths)
    width = max(len(root_paths) for root_paths in paths)
    displacements = np.zeros((NUM_KEYPOINTS, depth * width), np.int64)
    refinements = np.zeros((NUM_KEYPOINTS, depth * width), np.int64)
    columns = np.zeros((NUM_KEYPOINTS, NUM_KEYPOINTS, 1), np.int64)
    for root, root_paths in enumerate(paths):
        for slot in range(width):
            path = root_paths[slot % len(root_paths)]
            for level in range(depth):
                target, row = path[min(level, len(path) - 1)]
                column = level * width + slot
                displacements[root, column], refinements[root, column] = row, REFINEMENTS + target
                if level < len(path) and not columns[root, target, 0]:
                    columns[root, target] = 1 + column
    return depth, width, displacements, refinements, columns


def near_cell_halves(rows: np.ndarray) -> np.ndarray:
    """float64 [.., 3] (ROUNDING, ROUNDING, row + 0.5) of int64 table `rows` [..]: what _near_cell adds to a
    clamped (y, x, 0) to make the table index (y, x, row) by truncation."""
    rounding = np.full(rows.shape, ROUNDING)
    return np.stack([rounding, rounding, rows + 0.5], axis=-1)


def add_multi_pose_decoder(
    model: onnx.ModelProto, output_stride: int, input_size: tuple[int, int] | None, opset: int, resize: str
) -> onnx.ModelProto:
    """The backbone `model` (contract inputs/outputs) turned into the multi-pose graph, in place.

    `input_size` None: `image` of any size plus `image_scale_factor`, resized the `resize` way; else `image` at
    exactly that size.
    """
    from onnx import TensorProto, helper

    parameters = [
        helper.make_tensor_value_info(MAX_POSES_NAME, TensorProto.INT64, []),
        helper.make_tensor_value_info(SCORE_THRESHOLD_NAME, TensorProto.FLOAT, []),
        helper.make_tensor_value_info(NMS_RADIUS_NAME, TensorProto.FLOAT, []),
    ]
    nodes, scale_xy, batch = take_input(model, output_stride, input_size, opset, "multi_pose", parameters, resize)
    _Decoder(nodes, output_stride).decode(scale_xy)
    keypoints, keypoint_scores, scores, num_poses = MULTI_GRAPH_OUTPUTS
    return finish(
        model,
        [
            helper.make_tensor_value_info(keypoints, TensorProto.FLOAT, [batch, "poses", NUM_KEYPOINTS, 2]),
            helper.make_tensor_value_info(keypoint_scores, TensorProto.FLOAT, [batch, "poses", NUM_KEYPOINTS]),
            helper.make_tensor_value_info(scores, TensorProto.FLOAT, [batch, "poses"]),
            helper.make_tensor_value_info(num_poses, TensorProto.INT64, [batch]),
        ],
    )


class _Decoder:
    """Builds the decoder's nodes. Positions are in grid units (pixels / output stride, an exact scaling since
    the stride is a power of two) until the outputs, so near_cell needs no division; the attributes name
    values the stages share."""

    def __init__(self, nodes: Nodes, output_stride: int) -> None:
        self.nodes, self.stride = nodes, output_stride

    def decode(self, scale_xy: str | None) -> None:
        """Append every stage, writing MULTI_GRAPH_OUTPUTS."""
        self._grid()
        self._candidates()
        self._roots()
        self._poses()
        self._outputs(self._select(), scale_xy)

    def _grid(self) -> None:
        """The table (float32 N x H x W x 49 x 3, each lookup widened to float64; offsets and displacements in
        grid units: exact, the stride being a power of two), near_cell's clamp limits, and the squared radius in
        grid units."""
        from onnx import TensorProto

        n = self.nodes
        # The four outputs as N x C x H x W (these transposes cancel the backbone's own to N x H x W x C), three
        # channels per row picked (planes of H x W, where a Gather copies whole planes), then N x H x W x 49 x 3.
        nchw = [n.op("Transpose", name, perm=[0, 3, 1, 2]) for name in OUTPUT_NAMES]
        planes = n.op("Concat", *nchw, axis=1, output=PLANES)
        rows = n.op("Gather", planes, n.const(table_channels()), axis=1)
        units = np.full((ROWS, 3, 1, 1), 1 / self.stride)
        units[REFINEMENTS:BWD, 2] = 1.0
        scaled = n.op("Mul", rows, n.const(units.reshape(3 * ROWS, 1, 1), np.float32))
        self.table = n.op("Reshape", n.op("Transpose", scaled, perm=[0, 2, 3, 1]), n.const([0, 0, 0, ROWS, 3]))

        shape = n.op("Shape", OUTPUT_NAMES[0])
        height_width = n.op("Slice", shape, n.const([1]), n.const([3]))
        self.width = n.op("Slice", shape, n.const([2]), n.const([3]))  # [1]
        last = n.op("Cast", n.op("Sub", height_width, n.const([1])), to=TensorProto.DOUBLE)
        self.limits = n.op("Concat", last, n.const([0.0], np.float64), axis=0)  # (H - 1, W - 1, 0)
        radius = n.op("Mul", n.op("Cast", NMS_RADIUS_NAME, to=TensorProto.DOUBLE), n.const(1 / self.stride, np.float64))
        self.squared_radius = n.op("Mul", radius, radius)
        self.sum_yx = n.const([[1.0], [1.0], [0.0]], np.float64)  # (a, b, _) -> a + b

    def _candidates(self) -> None:
        """Local maxima not below the threshold, sorted by score: flat heatmap indices [N, M], M >= 1, and
        which of them are real (an image may have fewer than the batch's most)."""
        from onnx import TensorProto

        n = self.nodes
        scores = OUTPUT_NAMES[0]
        # Each part's 3 x 3 window as a 3-D pool of N x 1 x H x W x 17: no transposes, and one channel, which
        # onnxruntime pools on one thread (waking a second costs more than it saves on a heatmap this small).
        heatmap = n.op("Unsqueeze", scores, n.const([1]))
        window = n.op("MaxPool", heatmap, kernel_shape=[3, 3, 1], pads=[1, 1, 0, 1, 1, 0], strides=[1, 1, 1])
        # the window's maximum and not below the threshold
        candidate = n.op("GreaterOrEqual", heatmap, n.op("Max", window, SCORE_THRESHOLD_NAME))
        ranked = n.op("Reshape", n.op("Where", candidate, heatmap, n.const(-1.0, np.float32)), n.const([0, -1]))
        # counted in float32 (exact up to 2^24 cells), where onnxruntime's ReduceSum is several times faster
        counted = n.op("ReduceSum", n.op("Cast", candidate, to=TensorProto.FLOAT), n.const([1, 2, 3, 4]), keepdims=0)
        counts = n.op("Cast", counted, to=TensorProto.INT64)
        most = n.op("Max", n.reduce("ReduceMax", counts, [0], keepdims=1), n.const([1]))  # [1]
        _, self.flat = n.ops("TopK", ranked, most, outputs=2, axis=-1, largest=1, sorted=1)
        self.count = n.op("Squeeze", most, n.const([0]))  # M, a scalar
        self.order = n.op("Unsqueeze", n.op("Range", n.const(0), self.count, n.const(1)), n.const([0]))  # [1, M]
        self.real = n.op("Less", self.order, n.op("Unsqueeze", counts, n.const([1])))  # [N, M]

    def _roots(self) -> None:
        """Each candidate's part ([N, M] and [N, M, 1]) and root (y, x, score) [N, M, 3]."""
        from onnx import TensorProto

        n = self.nodes
        self.parts = n.op("Mod", self.flat, n.const(NUM_KEYPOINTS))
        self.part = n.op("Unsqueeze", self.parts, n.const([2]))
        # (y, x, part) from the flat index (y * W + x) * 17 + part: the part is its keypoint's table row, the
        # refinements coming first (REFINEMENTS is 0). The root is (y + dy, x + dx, part + score), as every
        # keypoint the levels place (_poses).
        divisors = n.op("Concat", n.op("Mul", self.width, n.const([NUM_KEYPOINTS])), n.const([NUM_KEYPOINTS, 1]), axis=0)
        moduli = n.op("Concat", n.const([np.iinfo(np.int64).max]), self.width, n.const([NUM_KEYPOINTS]), axis=0)
        index = n.op("Mod", n.op("Div", n.op("Unsqueeze", self.flat, n.const([2])), divisors), moduli)
        self.root = n.op("Add", n.op("Cast", index, to=TensorProto.DOUBLE), self._rows(index))

    def _near_cell(self, position: str, limits: str, halves: str) -> str:
        """The table index (y, x, row) as int64 of upstream's near cell of (y, x, _) [.., 3] in grid units:
        clamp(Math.round(v)); `limits` is self.limits expanded to the position's shape, `halves` (ROUNDING,
        ROUNDING, row + 0.5) in float64 of that shape (near_cell_halves).

        Clamping first to [0, size - 1] changes nothing (the bounds are whole numbers), and for v >= 0
        JavaScript's Math.round(v) (halves up) is exactly floor(v + ROUNDING): the sum rounds up to the next
        whole number when v's fraction is >= 0.5 and never otherwise (floor(v + 0.5) would take ROUNDING itself
        to 1). The sum is positive, so the cast to int64 (towards zero) is the floor. The third value clamps to
        0, so it casts to the row.
        """
        from onnx import TensorProto

        n = self.nodes
        clamped = n.op("Min", n.op("Max", position, n.const(0.0, np.float64)), limits)
        return n.op("Cast", n.op("Add", clamped, halves), to=TensorProto.INT64)

    def _rows(self, index: str) -> str:
        """The table's rows at `index` (y, x, row), int64 [N, .., 3], of each image, in float64."""
        from onnx import TensorProto

        n = self.nodes
        return n.op("Cast", n.op("GatherND", self.table, index, batch_dims=1), to=TensorProto.DOUBLE)

    def _poses(self) -> None:
        """Every candidate's pose [N, M, 17, 3] (y, x, score per keypoint), level by level along the paths from
        its root (path_tables)."""
        from onnx import TensorProto

        n = self.nodes
        depth, width, displacements, refinements, columns = path_tables()

        def per_level(table: np.ndarray) -> list[str]:
            every = n.op("Gather", n.const(near_cell_halves(table), np.float64), self.parts, axis=0)  # [N, M, D * W, 3]
            return n.ops("Split", every, n.const([width] * depth), outputs=depth, axis=2)

        levels = list(zip(per_level(displacements), per_level(refinements)))
        # Every elementwise node below takes operands of one shape, [N, M, W, 3]: onnxruntime broadcasts a last
        # axis of 3 element by element, several times slower.
        shape = n.op("Shape", levels[0][0])
        limits = n.op("Expand", self.limits, shape)
        placed = [n.op("Unsqueeze", self.root, n.const([2]))]  # [N, M, 1, 3], then [N, M, W, 3] per level
        previous = n.op("Expand", placed[0], shape)
        # A keypoint is placed as (y + dy, x + dx, row + score), its cell and refinement row plus the table's
        # row there: exact in float64 (a float32 score plus a whole number below 2^5), and its row subtracted
        # once at the end.
        for displacement, refinement in levels:
            point = n.op("Add", previous, self._rows(self._near_cell(previous, limits, displacement)))
            index = self._near_cell(point, limits, refinement)
            previous = n.op("Add", n.op("Cast", index, to=TensorProto.DOUBLE), self._rows(index))
            placed.append(previous)
        every = n.op("Concat", *placed, axis=2)  # [N, M, 1 + D * W, 3]
        # GatherND of whole keypoints: onnxruntime would run the equivalent GatherElements on its thread pool.
        keypoints = n.op("GatherND", every, n.op("Gather", n.const(columns), self.parts, axis=0), batch_dims=2)
        rows = np.zeros((NUM_KEYPOINTS, 3))
        rows[:, 2] = REFINEMENTS + np.arange(NUM_KEYPOINTS)  # (0, 0, row) per keypoint
        self.poses = n.op("Sub", keypoints, n.const(rows, np.float64))  # [N, M, 17, 3]: (y, x, score)

    def _select(self) -> str:
        """The greedy selection as a Loop over pose slots: the chosen candidates [T, N] (M where an image has no
        pose in that slot), 1 <= T <= max(max_pose_detections, 1).

        Candidates get a sentinel column M: never blocked (its root is NaN, so no distance is within the radius;
        a chosen candidate blocks itself, as its root is its own keypoint), so an image without a free candidate
        chooses M, whose pose (the zero row appended to the poses) is no pose. The chosen candidate is the first
        free one, so every candidate before it is blocked already: a slot blocks only by distance.
        """
        from onnx import TensorProto, helper

        n = self.nodes
        self.max_poses = n.op("Max", MAX_POSES_NAME, n.const(1))  # P, a scalar
        self.poses = n.op("Pad", self.poses, n.const([0, 0, 0, 0, 0, 1, 0, 0]))  # [N, M + 1, 17, 3]
        part = n.op("Pad", self.part, n.const([0, 0, 0, 0, 1, 0]))
        root = n.op("Pad", self.root, n.const([0, 0, 0, 0, 1, 0]), n.const(np.nan, np.float64))
        root_yx = n.op("Slice", root, n.const([0]), n.const([2]), n.const([2]))  # [N, M + 1, 2]
        poses_yx = n.op("Slice", self.poses, n.const([0]), n.const([2]), n.const([3]))  # [N, M + 1, 17, 2]
        unreal = n.op("Cast", n.op("Not", self.real), to=TensorProto.INT32)
        blocked = n.op("Pad", unreal, n.const([0, 0, 0, 1]))  # [N, M + 1], 1 = blocked
        body = helper.make_graph([], "multi_pose_greedy", [
            helper.make_tensor_value_info("slot", TensorProto.INT64, []),
            helper.make_tensor_value_info("more", TensorProto.BOOL, []),
            helper.make_tensor_value_info("blocked", TensorProto.INT32, None),
            helper.make_tensor_value_info("chosen", TensorProto.INT64, None),
        ], [])
        b = Nodes(body, n.opset, "multi_pose/greedy", constants=n.constants)
        pose = b.op("GatherND", poses_yx, "chosen", batch_dims=1)  # [N, 17, 2]
        same_part = b.op("GatherND", pose, part, batch_dims=1)  # [N, M + 1, 2]: its keypoint of each root's part
        distance = b.op("Sub", same_part, root_yx)
        squared = b.op("ReduceSum", b.op("Mul", distance, distance), b.const([2]), keepdims=0)  # dy * dy + dx * dx
        suppressed = b.op("Cast", b.op("LessOrEqual", squared, self.squared_radius), to=TensorProto.INT32)
        now_blocked = b.op("Max", "blocked", suppressed, output="blocked_out")
        following = b.op("ArgMin", now_blocked, axis=1, keepdims=1, output="chosen_out")  # [N, 1]: the first free
        b.op("Less", b.reduce("ReduceMin", following, [0, 1], keepdims=0), self.count, output="more_out")
        # A 1-D scan output: runtimes that stack scan outputs and runtimes that concatenate them agree on it.
        b.op("Squeeze", "chosen", b.const([1]), output="chosen_slot")
        body.output.extend([
            helper.make_tensor_value_info("more_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("blocked_out", TensorProto.INT32, None),
            helper.make_tensor_value_info("chosen_out", TensorProto.INT64, None),
            helper.make_tensor_value_info("chosen_slot", TensorProto.INT64, None),
        ])
        first = n.op("ArgMin", blocked, axis=1, keepdims=1)
        slots = n.op("Min", self.max_poses, self.count)
        outputs = n.ops("Loop", slots, n.const(True, np.bool_), blocked, first, outputs=3, body=body)
        return outputs[2]

    def _outputs(self, chosen_slots: str, scale_xy: str | None) -> None:
        """The chosen poses with their instance scores, in image pixels, padded with zero rows to P."""
        from onnx import TensorProto

        n = self.nodes
        keypoints_name, keypoint_scores_name, scores_name, num_poses_name = MULTI_GRAPH_OUTPUTS
        chosen = n.op("Unsqueeze", n.op("Transpose", chosen_slots, perm=[1, 0]), n.const([2]))  # [N, T, 1]
        keypoints = n.op("GatherND", self.poses, chosen, batch_dims=1)  # [N, T, 17, 3]

        # A keypoint is claimed when the same keypoint of an earlier pose lies within the radius (<=).
        distance = n.op("Sub", n.op("Unsqueeze", keypoints, n.const([2])), n.op("Unsqueeze", keypoints, n.const([1])))
        squared = n.op("MatMul", n.op("Mul", distance, distance), self.sum_yx)  # [N, T, T, 17, 1]
        earlier = n.op("Less", n.op("Transpose", chosen, perm=[0, 2, 1]), chosen)  # [N, T, T]: pose t before pose s
        near = n.op("And", n.op("LessOrEqual", squared, self.squared_radius), n.op("Unsqueeze", earlier, n.const([3, 4])))
        claimed = n.reduce("ReduceMax", n.op("Cast", near, to=TensorProto.DOUBLE), [2], keepdims=0)  # [N, T, 17, 1]
        keypoint_scores = n.op("Slice", keypoints, n.const([2]), n.const([3]), n.const([3]))  # [N, T, 17, 1]
        kept = n.op("Mul", keypoint_scores, n.op("Sub", n.const(1.0, np.float64), claimed))
        total = n.op("ReduceSum", kept, n.const([2, 3]), keepdims=0)
        scores = n.op("Div", total, n.const(float(NUM_KEYPOINTS), np.float64))

        # (x, y, score) in image pixels: grid units * stride, then * (image size / network input size) in float64.
        if scale_xy is None:
            factors = n.const([self.stride, self.stride, 1.0], np.float64)
        else:
            stride = n.const(float(self.stride), np.float64)
            factors = n.op("Concat", n.op("Mul", scale_xy, stride), n.const([1.0], np.float64), axis=0)
        placed = n.op("Mul", n.op("Gather", keypoints, n.const([1, 0, 2]), axis=3), factors)
        missing = n.op("Sub", n.op("Unsqueeze", self.max_poses, n.const([0])), n.op("Slice", n.op("Shape", chosen), n.const([1]), n.const([2])))
        rows = n.op("Concat", n.const([0, 0, 0, 0, 0]), missing, n.const([0, 0]), axis=0)  # pads of [N, T, 17, 3]
        padded = n.op("Pad", n.op("Cast", placed, to=TensorProto.FLOAT), rows)
        _, part_scores = n.ops("Split", padded, n.const([2, 1]), outputs=[keypoints_name, n.name("Split")], axis=3)
        n.op("Squeeze", part_scores, n.const([3]), output=keypoint_scores_name)
        score_rows = n.op("Concat", n.const([0, 0, 0]), missing, axis=0)
        n.op("Pad", n.op("Cast", scores, to=TensorProto.FLOAT), score_rows, output=scores_name)
        found = n.op("Cast", n.op("Less", chosen, self.count), to=TensorProto.INT64)
        n.op("ReduceSum", found, n.const([1, 2]), output=num_poses_name, keepdims=0)
