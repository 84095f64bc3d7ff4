// The browser side of scripts/bench_web.py, in headless Chromium on a served site.
//
// Usage: node bench.js REQUEST.json  ->  JSON on stdout.
// REQUEST.json: {"site": BASE URL, "page": a page of the site that loads tf.min.js and posenet.min.js (the
//   original package's browser bundles), "image": photo URL, "multiplier", "outputStride", "algorithm":
//   "multi" | "single", "warmup": N, "rounds": N, "checkpointDir": local folder of mobilenet_v1_XXX/ checkpoints,
//   "profiles": [{"numThreads": N}] (optional: onnxruntime-web's per-node profile, one page per setting)}
//
// race: in one page, our estimate and the original's, call after call (interleaved), at the defaults
// (image scale 0.5, no flip, maxDetections 5, scoreThreshold 0.5, nmsRadius 20); the original gets WebGL if
// the browser gives it one, else tfjs's CPU backend. The checkpoint it fetches from Google's server is
// answered from checkpointDir (request interception): nothing leaves the machine.
// profile: our graph alone, with onnxruntime-web's profiler on: milliseconds per run by operator type.
'use strict';

const fs = require('fs');
const path = require('path');
const {withPage, request, answer} = require('./chromium');

const CHECKPOINT_URL = 'https://storage.googleapis.com/tfjs-models/weights/posenet/';

async function race(req) {
  const ours = await import(new URL('posenet.js', req.site).href);
  const net = await ours.load(req.multiplier);
  const tf = globalThis.tf;
  const backend = (await tf.setBackend('webgl')) ? 'webgl' : 'cpu';
  if (backend === 'cpu') {
    await tf.setBackend('cpu');
  }
  const theirs = await globalThis.posenet.load(req.multiplier);
  const image = new Image();
  image.src = req.image;
  await image.decode();
  const estimate = {
    ours: () => (req.algorithm === 'single' ?
      net.estimateSinglePose(image, 0.5, false, req.outputStride).then((pose) => [pose]) :
      net.estimateMultiplePoses(image, 0.5, false, req.outputStride, 5, 0.5, 20)),
    theirs: () => (req.algorithm === 'single' ?
      theirs.estimateSinglePose(image, 0.5, false, req.outputStride).then((pose) => [pose]) :
      theirs.estimateMultiplePoses(image, 0.5, false, req.outputStride, 5, 0.5, 20)),
  };
  const poses = {};
  for (let i = 0; i < req.warmup; i++) {
    poses.ours = await estimate.ours();
    poses.theirs = await estimate.theirs();
  }
  const ms = {ours: [], theirs: []};
  for (let i = 0; i < req.rounds; i++) {
    for (const who of i % 2 ? ['theirs', 'ours'] : ['ours', 'theirs']) {
      const started = performance.now();
      poses[who] = await estimate[who]();
      ms[who].push(performance.now() - started);
    }
  }
  return {
    ms,
    poses,
    backends: {
      ours: `onnxruntime-web ${ours.ort.env.versions.web} wasm, ${ours.ort.env.wasm.numThreads} thread(s), ` +
            `cross-origin isolated: ${self.crossOriginIsolated}`,
      theirs: `tfjs ${tf.version_core} ${tf.getBackend()}`,
    },
    webglRenderer: (() => {
      const gl = document.createElement('canvas').getContext('webgl');
      const info = gl?.getExtension('WEBGL_debug_renderer_info');
      return gl === null ? null : gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
    })(),
  };
}

async function profile(req, numThreads) {
  const ours = await import(new URL('posenet.js', req.site).href);
  const ort = ours.ort;
  ort.env.wasm.numThreads = numThreads;
  const graph = ours.siteModels().find((g) => g.multiplier === req.multiplier &&
                                             g.outputStride === req.outputStride && g.decoder === req.algorithm);
  const url = new URL(`models/${graph.file}`, req.site).href;
  const image = new Image();
  image.src = req.image;
  await image.decode();
  const canvas = document.createElement('canvas');
  [canvas.width, canvas.height] = [image.width, image.height];
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  const rgba = context.getImageData(0, 0, image.width, image.height).data;
  const rgb = new Uint8Array(image.width * image.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb.set(rgba.subarray(i, i + 3), j);
  }
  const feeds = {
    image: new ort.Tensor('uint8', rgb, [1, image.height, image.width, 3]),
    image_scale_factor: new ort.Tensor('float32', Float32Array.of(0.5), []),
  };
  if (req.algorithm === 'multi') {
    feeds.max_pose_detections = new ort.Tensor('int64', BigInt64Array.of(5n), []);
    feeds.score_threshold = new ort.Tensor('float32', Float32Array.of(0.5), []);
    feeds.nms_radius = new ort.Tensor('float32', Float32Array.of(20), []);
  }
  const options = {executionProviders: ['wasm'], graphOptimizationLevel: 'all'};
  // Plain timing first (the profiler's own bookkeeping costs time), then the profiled runs.
  const plain = await ort.InferenceSession.create(url, options);
  const ms = [];
  for (let i = 0; i < req.warmup + req.rounds; i++) {
    const started = performance.now();
    await plain.run(feeds);
    if (i >= req.warmup) {
      ms.push(performance.now() - started);
    }
  }
  await plain.release();
  const profiled = await ort.InferenceSession.create(url, {...options, enableProfiling: true});
  for (let i = 0; i < req.warmup + req.rounds; i++) {
    await profiled.run(feeds);
  }
  profiled.endProfiling();
  await profiled.release();
  return {numThreads: ort.env.wasm.numThreads, ms};
}

/** onnxruntime's profile events (JSON objects, one per console line): per op type, microseconds over the
 * measured runs (the warm-up runs' events come first and are dropped). */
function nodeTimes(lines, warmup, rounds) {
  const events = [];
  for (const line of lines) {
    const text = line.trim().replace(/,$/, '');
    if (text.startsWith('{') && text.includes('"cat"')) {
      try {
        events.push(JSON.parse(text));
      } catch {
        // a line of another message
      }
    }
  }
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const measured = runs.slice(warmup, warmup + rounds);
  const start = measured.length ? measured[0].ts : Infinity;
  const byOp = {};
  for (const event of events) {
    if (event.cat === 'Node' && event.ts >= start && event.name.endsWith('_kernel_time')) {
      const op = opKind(event.args);
      byOp[op] = (byOp[op] || 0) + event.dur;
    }
  }
  return {runUs: measured.map((e) => e.dur), byOpUs: byOp};
}

/** The op type; convolutions (Conv, and FusedConv with its activation) by their weights' shape. */
function opKind({op_name: op, input_type_shape: inputs}) {
  const weights = op.endsWith('Conv') && inputs?.[1] ? Object.values(inputs[1])[0] : null;
  if (weights === null || weights.length !== 4) {
    return op;
  }
  const [, perGroup, height, width] = weights;
  return `conv ${perGroup === 1 && height > 1 ? 'depthwise' : height === 1 ? 'pointwise' : 'full'} ${height}x${width}`;
}

function serveCheckpoints(page, checkpointDir) {
  return page.setRequestInterception(true).then(() => page.on('request', (intercepted) => {
    const url = intercepted.url();
    if (!url.startsWith(CHECKPOINT_URL)) {
      intercepted.continue();
      return;
    }
    const file = path.join(checkpointDir, url.slice(CHECKPOINT_URL.length));
    const headers = {'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin'};
    if (!fs.existsSync(file)) {
      intercepted.respond({status: 404, headers, body: ''});
      return;
    }
    intercepted.respond({status: 200, headers, contentType: 'application/octet-stream', body: fs.readFileSync(file)});
  }));
}

answer(async () => {
  const req = request();
  return withPage({origin: new URL(req.site).origin}, async (page, record, chromium) => {
    await serveCheckpoints(page, req.checkpointDir);
    await page.goto(req.page, {waitUntil: 'load'});
    const result = await page.evaluate(race, req);
    const profiles = [];
    for (const setting of req.profiles || []) {
      const profiled = await chromium.browser.newPage();
      const lines = [];
      profiled.on('console', (message) => lines.push(message.text()));
      await profiled.goto(req.page, {waitUntil: 'load'});
      const timing = await profiled.evaluate(profile, req, setting.numThreads);
      await profiled.close();
      profiles.push({...timing, ...nodeTimes(lines, req.warmup, req.rounds)});
    }
    return {...result, profiles, chromium: chromium.version, record};
  });
});
