// The original @tensorflow-models/posenet 1.0.3 (tfjs 1.1.2, pure-JS CPU backend) run on raw pixels:
// the parity reference for tests/test_parity.py.
//
// Usage: node estimate.js REQUEST.json  ->  JSON on stdout, one list of poses per case.
// REQUEST.json: {"checkpointDir": DIR holding mobilenet_v1_XXX/, "multiplier": 0.5,
//   "cases": [{"pixels": FILE of raw uint8 RGB rows, "height": H, "width": W, "algorithm": "single"|"multi",
//              "imageScaleFactor", "flipHorizontal", "outputStride", "maxDetections", "scoreThreshold",
//              "nmsRadius"}]}
// The pixels go in as an int32 [H, W, 3] tensor, exactly what tf.browser.fromPixels hands posenet.
'use strict';

const fs = require('fs');
const path = require('path');

// tfjs greets Node users on console.log; keep stdout for the JSON answer.
console.log = console.error;
console.warn = console.error;

const tf = require('@tensorflow/tfjs');
const posenet = require('@tensorflow-models/posenet');

// posenet's CheckpointLoader fetches <server>/posenet/mobilenet_v1_XXX/<file>; answer from the local folder
// instead, so the original loader code (manifest, raw float32 files) still runs unchanged. The manifest is
// answered with only the variables whose files are in the folder: a checkpoint copy may lack heads the
// network never uses (the 0.75 copy has no `*_1` heads), and the loader would otherwise fetch every entry.
function serveCheckpointsFrom(checkpointDir) {
  tf.util.fetch = async (url) => {
    const relative = url.slice(url.indexOf('/posenet/') + '/posenet/'.length);
    const file = path.join(checkpointDir, relative);
    if (!fs.existsSync(file)) {
      return {ok: false};
    }
    const bytes = fs.readFileSync(file);
    const present = (entry) => fs.existsSync(path.join(path.dirname(file), entry.filename));
    return {
      ok: true,
      json: async () => {
        const manifest = JSON.parse(bytes.toString('utf8'));
        return Object.fromEntries(Object.entries(manifest).filter(([, entry]) => present(entry)));
      },
      arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    };
  };
}

function readImage({pixels, height, width}) {
  const bytes = fs.readFileSync(pixels);
  if (bytes.length !== height * width * 3) {
    throw new Error(`${pixels}: ${bytes.length} bytes, expected ${height}x${width}x3`);
  }
  return tf.tensor3d(Int32Array.from(bytes), [height, width, 3], 'int32');
}

async function estimate(net, request) {
  const image = readImage(request);
  try {
    if (request.algorithm === 'single') {
      const pose = await net.estimateSinglePose(
          image, request.imageScaleFactor, request.flipHorizontal, request.outputStride);
      return [pose];
    }
    return await net.estimateMultiplePoses(
        image, request.imageScaleFactor, request.flipHorizontal, request.outputStride,
        request.maxDetections, request.scoreThreshold, request.nmsRadius);
  } finally {
    image.dispose();
  }
}

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  await tf.setBackend('cpu');
  serveCheckpointsFrom(request.checkpointDir);
  const net = await posenet.load(request.multiplier);
  const results = [];
  for (const item of request.cases) {
    results.push(await estimate(net, item));
  }
  process.stdout.write(JSON.stringify({backend: tf.getBackend(), tfjs: tf.version_core, results}));
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
