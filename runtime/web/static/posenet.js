// PoseNet in the browser: the API of @tensorflow-models/posenet 1.0.3 on ONNX Runtime Web (WebAssembly).
//
//   import * as posenet from './posenet.js';
//   const net = await posenet.load(0.5);
//   const pose = await net.estimateSinglePose(image, 0.5, false, 16);
//   const poses = await net.estimateMultiplePoses(video, 0.5, true, 16, 5, 0.5, 20);
//
// Each estimate is one call of a self-contained graph that this site holds (models/manifest.json lists them):
// the graph takes the picture's RGB pixels and returns keypoints in the picture's pixels, so nothing is
// resized or decoded here. The pose objects are upstream's: {score, keypoints: [{score, part, position: {x, y}}]}.
// The keypoint tables come from the manifest, which the site builder writes from the Python package's own.

import * as ort from './onnxruntime-web/ort.wasm.min.mjs';

const MODELS = new URL('./models/', import.meta.url);
const manifest = await fetchManifest();

/** The 17 part names in part-id order: nose, leftEye, rightEye, ... */
export const partNames = Object.freeze([...manifest.partNames]);
/** Part name -> part id. */
export const partIds = Object.freeze(Object.fromEntries(partNames.map((name, id) => [name, id])));
/** The [parent, child] part names of the tree the multi-pose decoder walks. */
export const poseChain = Object.freeze(manifest.poseChain.map((pair) => Object.freeze([...pair])));
/** The [part, part] names joined when a skeleton is drawn, in upstream's order. */
export const connectedPartNames = Object.freeze(manifest.connectedPartNames.map((pair) => Object.freeze([...pair])));
const connectedPartIndices = connectedPartNames.map(([a, b]) => [partIds[a], partIds[b]]);

/** The multipliers upstream's load() accepts. */
const MULTIPLIERS = Object.freeze([1.01, 1.0, 0.75, 0.5]);
const OUTPUT_STRIDES = [8, 16, 32];
const DEFAULT_OUTPUT_STRIDE = 16;
/** The ONNX Runtime Web module the graphs run on (its `env` holds the WebAssembly settings). */
export {ort};

async function fetchManifest() {
  const url = new URL('manifest.json', MODELS);
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`posenet.js: cannot read ${url} (HTTP ${response.status}); serve the whole site that ` +
                    '`posenet-onnx web -o SITE` built, not posenet.js alone');
  }
  return response.json();
}

/**
 * Loads PoseNet with a MobileNet width `multiplier` (1.01, 1.0, 0.75 or 0.5), like upstream's load(): the
 * graphs of the site's default output stride are opened now, those of the other strides on first use.
 * `options.numThreads` sets the WebAssembly threads (default: the cores, at most 4, when the page is
 * cross-origin isolated; one otherwise), for the first load of the page only.
 */
export async function load(multiplier = 1.01, options = {}) {
  if (!MULTIPLIERS.some((valid) => sameMultiplier(valid, multiplier))) {
    throw new Error(`MobileNet multiplier ${multiplier} is invalid; it must be one of ${MULTIPLIERS.join(', ')}.`);
  }
  const graphs = manifest.graphs.filter((graph) => sameMultiplier(graph.multiplier, multiplier));
  if (graphs.length === 0) {
    throw new Error(`This site has no model for multiplier ${multiplier}; it has ${siteMultipliers().join(', ')} ` +
                    `(build it with \`posenet-onnx web --multiplier ${multiplier}\`).`);
  }
  configureWasm(options);
  const net = new PoseNet(multiplier, graphs);
  const strides = net.outputStrides;
  const first = strides.includes(DEFAULT_OUTPUT_STRIDE) ? DEFAULT_OUTPUT_STRIDE : strides[0];
  await Promise.all(graphs.filter((graph) => graph.outputStride === first).map((graph) => net.session(graph)));
  return net;
}

/** What the site holds: [{multiplier, outputStride, decoder, file}] (decoder "single" or "multi"). */
export function siteModels() {
  return manifest.graphs.map((graph) => ({...graph}));
}

function siteMultipliers() {
  return [...new Set(manifest.graphs.map((graph) => graph.multiplier))].sort((a, b) => a - b);
}

function sameMultiplier(a, b) {
  return typeof b === 'number' && Math.abs(a - b) < 1e-9;
}

let wasmConfigured = false;

function configureWasm({numThreads} = {}) {
  if (wasmConfigured) {
    return;
  }
  wasmConfigured = true;
  const cores = navigator.hardwareConcurrency || 1;
  // onnxruntime-web's own default is half the cores; PoseNet's convolutions scale to all of them.
  const threads = numThreads ?? (self.crossOriginIsolated ? Math.min(4, cores) : 1);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`numThreads must be an integer >= 1; got ${numThreads}.`);
  }
  ort.env.wasm.numThreads = threads;
}

/** A loaded PoseNet: one multiplier, a session per graph (single- and multi-pose, each output stride). */
export class PoseNet {
  constructor(multiplier, graphs) {
    this.multiplier = multiplier;
    this._graphs = graphs;
    this._sessions = new Map();
    this._running = Promise.resolve();
  }

  /** The output strides this site has graphs for, at this multiplier. */
  get outputStrides() {
    return [...new Set(this._graphs.map((graph) => graph.outputStride))].sort((a, b) => a - b);
  }

  /** The session of one graph of the manifest, created on first use. */
  session(graph) {
    if (!this._sessions.has(graph.file)) {
      const options = {executionProviders: ['wasm'], graphOptimizationLevel: 'all'};
      this._sessions.set(graph.file, ort.InferenceSession.create(new URL(graph.file, MODELS).href, options));
    }
    return this._sessions.get(graph.file);
  }

  /**
   * The single best pose: each part at its most confident place anywhere in the picture.
   * Positions are in the input's pixels (mirrored ones when `flipHorizontal`).
   */
  async estimateSinglePose(input, imageScaleFactor = 0.5, flipHorizontal = false, outputStride = 16) {
    assertValidOutputStride(outputStride);
    assertValidScaleFactor(imageScaleFactor);
    const session = await this.session(this._graph('single', outputStride));
    const feeds = imageFeeds(input, imageScaleFactor, flipHorizontal);
    const outputs = await this._run(session, feeds);
    return toPose(outputs.scores.data[0], outputs.keypoint_scores.data, outputs.keypoints.data, 0);
  }

  /**
   * Up to `maxDetections` poses, strongest root part first: upstream's multi-pose decoding (part candidates
   * above `scoreThreshold`, greedy decoding along the skeleton, `nmsRadius` in network-input pixels).
   */
  async estimateMultiplePoses(input, imageScaleFactor = 0.5, flipHorizontal = false, outputStride = 16,
                              maxDetections = 5, scoreThreshold = 0.5, nmsRadius = 20) {
    assertValidOutputStride(outputStride);
    assertValidScaleFactor(imageScaleFactor);
    assertValidMultiPoseParameters(maxDetections, scoreThreshold, nmsRadius);
    const session = await this.session(this._graph('multi', outputStride));
    const feeds = imageFeeds(input, imageScaleFactor, flipHorizontal);
    // The graph's outputs hold maxDetections rows: ask for no more than there are candidate parts (cells x parts).
    const [, height, width] = feeds.image.dims;
    const cells = [height, width].map((size) => (validResolution(imageScaleFactor, size, outputStride) - 1) / outputStride + 1);
    const rows = Math.min(maxDetections, cells[0] * cells[1] * partNames.length);
    feeds.max_pose_detections = new ort.Tensor('int64', BigInt64Array.of(BigInt(rows)), []);
    feeds.score_threshold = new ort.Tensor('float32', Float32Array.of(scoreThreshold), []);
    feeds.nms_radius = new ort.Tensor('float32', Float32Array.of(nmsRadius), []);
    const outputs = await this._run(session, feeds);
    const count = Number(outputs.num_poses.data[0]);
    const poses = [];
    for (let p = 0; p < count; p++) {
      poses.push(toPose(outputs.scores.data[p], outputs.keypoint_scores.data, outputs.keypoints.data, p));
    }
    return poses;
  }

  /** Releases the sessions. */
  async dispose() {
    const sessions = [...this._sessions.values()];
    this._sessions.clear();
    await Promise.all(sessions.map(async (session) => (await session).release()));
  }

  _graph(decoder, outputStride) {
    const graph = this._graphs.find((g) => g.decoder === decoder && g.outputStride === outputStride);
    if (graph === undefined) {
      const strides = this._graphs.filter((g) => g.decoder === decoder).map((g) => g.outputStride);
      const what = decoder === 'single' ? 'single-pose' : 'multi-pose';
      throw new Error(`This site has no ${what} graph for multiplier ${this.multiplier} at output stride ` +
                      `${outputStride}; it has ${strides.length ? `strides ${strides.join(', ')}` : 'none'} ` +
                      `(build it with \`posenet-onnx web --multiplier ${this.multiplier} --output-stride ${outputStride}\`).`);
    }
    return graph;
  }

  /** One session call at a time: a call waits for the one before it. */
  _run(session, feeds) {
    const run = this._running.then(() => session.run(feeds));
    this._running = run.catch(() => undefined);
    return run;
  }
}

function assertValidOutputStride(outputStride) {
  if (!OUTPUT_STRIDES.includes(outputStride)) {
    throw new Error(`Invalid outputStride ${outputStride}; it must be 8, 16 or 32.`);
  }
}

function assertValidScaleFactor(imageScaleFactor) {
  if (typeof imageScaleFactor !== 'number' || !(imageScaleFactor >= 0.2 && imageScaleFactor <= 1.0)) {
    throw new Error(`Invalid imageScaleFactor ${imageScaleFactor}; it must be a number in [0.2, 1.0].`);
  }
}

function assertValidMultiPoseParameters(maxDetections, scoreThreshold, nmsRadius) {
  if (!Number.isSafeInteger(maxDetections) || maxDetections < 1) {
    throw new Error(`Invalid maxDetections ${maxDetections}; it must be an integer >= 1.`);
  }
  if (typeof scoreThreshold !== 'number' || !(scoreThreshold >= 0 && scoreThreshold <= 1)) {
    throw new Error(`Invalid scoreThreshold ${scoreThreshold}; it must be a number in [0, 1].`);
  }
  if (typeof nmsRadius !== 'number' || !(nmsRadius > 0)) {
    throw new Error(`Invalid nmsRadius ${nmsRadius}; it must be a number > 0.`);
  }
}

/** Upstream's getValidResolution: the scaled size rounded down to k * outputStride + 1. */
function validResolution(imageScaleFactor, size, outputStride) {
  const even = size * imageScaleFactor - 1;
  return even - (even % outputStride) + 1;
}

function toPose(score, keypointScores, keypoints, p) {
  const n = partNames.length;
  return {
    score,
    keypoints: partNames.map((part, k) => ({
      score: keypointScores[p * n + k],
      part,
      position: {x: keypoints[(p * n + k) * 2], y: keypoints[(p * n + k) * 2 + 1]},
    })),
  };
}

// ---- the picture's pixels, as the graphs take them: uint8 [1, height, width, 3] RGB ----

function imageFeeds(input, imageScaleFactor, flipHorizontal) {
  const {data, width, height} = rgbaPixels(input);
  return {
    image: new ort.Tensor('uint8', rgbPixels(data, width, height, flipHorizontal), [1, height, width, 3]),
    image_scale_factor: new ort.Tensor('float32', Float32Array.of(imageScaleFactor), []),
  };
}

let canvas = null;

/**
 * {data: RGBA bytes, width, height} of an ImageData, or of an image, video or canvas element drawn at its
 * size as tf.browser.fromPixels drew it: an element's width and height (a video's own size when those are 0).
 */
function rgbaPixels(input) {
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) {
    return input;
  }
  let width;
  let height;
  if (input instanceof HTMLVideoElement) {
    width = input.width || input.videoWidth;
    height = input.height || input.videoHeight;
  } else if (input instanceof HTMLImageElement || input instanceof HTMLCanvasElement) {
    ({width, height} = input);
  } else {
    throw new Error('The input must be an HTMLImageElement, HTMLVideoElement, HTMLCanvasElement or ImageData; ' +
                    `got ${Object.prototype.toString.call(input)}.`);
  }
  if (!(width > 0 && height > 0)) {
    throw new Error(`The input is ${width} x ${height} pixels: wait until the image or video has loaded.`);
  }
  canvas ??= document.createElement('canvas');
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.clearRect(0, 0, width, height);
  context.drawImage(input, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}

/** RGB bytes of RGBA ones (alpha dropped, not blended, like fromPixels), mirrored left to right if asked. */
function rgbPixels(rgba, width, height, flipHorizontal) {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const source = (row + (flipHorizontal ? width - 1 - x : x)) * 4;
      const target = (row + x) * 3;
      rgb[target] = rgba[source];
      rgb[target + 1] = rgba[source + 1];
      rgb[target + 2] = rgba[source + 2];
    }
  }
  return rgb;
}

// ---- upstream's pose utilities ----

/** The skeleton's keypoint pairs, skipping a pair when either score is below `minConfidence`. */
export function getAdjacentKeyPoints(keypoints, minConfidence) {
  return connectedPartIndices
      .filter(([a, b]) => keypoints[a].score >= minConfidence && keypoints[b].score >= minConfidence)
      .map(([a, b]) => [keypoints[a], keypoints[b]]);
}

/** {minX, minY, maxX, maxY} around all keypoints (no score filter). */
export function getBoundingBox(keypoints) {
  return keypoints.reduce(({minX, minY, maxX, maxY}, {position: {x, y}}) => ({
    minX: Math.min(minX, x), minY: Math.min(minY, y), maxX: Math.max(maxX, x), maxY: Math.max(maxY, y),
  }), {minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity});
}

/** The bounding box's corners, clockwise from the top left. */
export function getBoundingBoxPoints(keypoints) {
  const {minX, minY, maxX, maxY} = getBoundingBox(keypoints);
  return [{x: minX, y: minY}, {x: maxX, y: minY}, {x: maxX, y: maxY}, {x: minX, y: maxY}];
}

/** The pose with every position multiplied by (scaleX, scaleY). */
export function scalePose(pose, scaleY, scaleX) {
  return {
    score: pose.score,
    keypoints: pose.keypoints.map(({score, part, position}) => ({
      score, part, position: {x: position.x * scaleX, y: position.y * scaleY},
    })),
  };
}
