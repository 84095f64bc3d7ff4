// ONNX Runtime for JavaScript (onnxruntime-node, CPU execution provider) running one exported posenet-onnx
// graph (.onnx, or .ort for onnxruntime Mobile) on raw tensors: the JavaScript side of the tests'
// deployment checks (tests/test_onnxruntime_js.py) and of scripts/bench_runtimes.py.
//
// Usage: node run.js REQUEST.json  ->  JSON on stdout.
// REQUEST.json: {"model": FILE, "threads": N (optional), "repeats": R (optional, default 0),
//   "runs": [{"inputs": {NAME: {"file": FILE of raw little-endian values, "type": "uint8" | "float32" | "int64",
//                               "dims": [...]}},
//             "outputDir": DIR}]}
// Each run's outputs are written to DIR/NAME.bin (raw little-endian); the answer gives per run the outputs'
// types and dims, and with repeats > 0 the median and fastest milliseconds of that many further session.run calls.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const ARRAYS = {uint8: Uint8Array, float32: Float32Array, int64: BigInt64Array};

function readTensor({file, type, dims}) {
  const Array = ARRAYS[type];
  if (Array === undefined) {
    throw new Error(`unsupported input type ${type}; expected ${Object.keys(ARRAYS).join(' or ')}`);
  }
  const bytes = fs.readFileSync(file);
  // A copy starting at offset 0, so that the typed array is aligned whatever Node's buffer pool did.
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return new ort.Tensor(type, new Array(copy), dims);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const options = {executionProviders: ['cpu'], graphOptimizationLevel: 'all'};
  if (request.threads) {
    options.intraOpNumThreads = request.threads;
  }
  const session = await ort.InferenceSession.create(request.model, options);
  const results = [];
  for (const run of request.runs) {
    const feeds = {};
    for (const [name, spec] of Object.entries(run.inputs)) {
      feeds[name] = readTensor(spec);
    }
    const outputs = await session.run(feeds);
    const answer = {outputs: {}};
    for (const name of session.outputNames) {
      const tensor = outputs[name];
      const data = tensor.data;
      fs.writeFileSync(path.join(run.outputDir, `${name}.bin`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      answer.outputs[name] = {type: tensor.type, dims: tensor.dims};
    }
    if (request.repeats) {
      const times = [];
      for (let i = 0; i < request.repeats; i++) {
        const start = process.hrtime.bigint();
        await session.run(feeds);
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      answer.medianMs = median(times);
      answer.fastestMs = Math.min(...times);
    }
    results.push(answer);
  }
  process.stdout.write(JSON.stringify({onnxruntime: ort.env.versions.node, inputNames: session.inputNames, results}));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
