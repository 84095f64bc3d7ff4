// posenet.js in headless Chromium on photos served with the site: the browser side of the parity tests
// (tests/test_web.py).
//
// Usage: node estimate.js REQUEST.json  ->  JSON on stdout.
// REQUEST.json: {"site": BASE URL of the served site, "page": URL of a page of that origin to run in,
//   "multiplier": 0.5, "numThreads": N (optional), "pixels": [photo URLs whose decoded RGBA to return, base64],
//   "cases": [{"image": URL, "algorithm": "single" | "multi", "imageScaleFactor", "flipHorizontal",
//              "outputStride", "maxDetections", "scoreThreshold", "nmsRadius"}],
//   "badCalls": [{"method": "load" | a PoseNet method, "args": [...]}] (optional: calls that must fail; a
//               method gets the first case's image before its args)}
// Answer: {"results": [poses per case], "pixels": {URL: {width, height, rgba}}, "errors": [per bad call: its
//          error message, or null if it did not fail], "environment": {...},
//          "record": what the page requested and any errors (chromium.js watch)}.
'use strict';

const {withPage, request, answer} = require('./chromium');

async function inPage(request) {
  const posenet = await import(new URL('posenet.js', request.site).href);
  const net = await posenet.load(request.multiplier, request.numThreads ? {numThreads: request.numThreads} : {});
  const images = new Map();
  const image = async (url) => {
    if (!images.has(url)) {
      const element = new Image();
      element.src = url;
      await element.decode();
      images.set(url, element);
    }
    return images.get(url);
  };
  const results = [];
  for (const c of request.cases) {
    const input = await image(c.image);
    if (c.algorithm === 'single') {
      results.push([await net.estimateSinglePose(input, c.imageScaleFactor, c.flipHorizontal, c.outputStride)]);
    } else {
      results.push(await net.estimateMultiplePoses(input, c.imageScaleFactor, c.flipHorizontal, c.outputStride,
                                                   c.maxDetections, c.scoreThreshold, c.nmsRadius));
    }
  }
  const pixels = {};
  for (const url of request.pixels || []) {
    const element = await image(url);
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [element.width, element.height];
    const context = canvas.getContext('2d', {willReadFrequently: true});
    context.drawImage(element, 0, 0);
    const {data} = context.getImageData(0, 0, canvas.width, canvas.height);
    let text = '';
    for (let i = 0; i < data.length; i += 0x8000) {
      text += String.fromCharCode(...data.subarray(i, i + 0x8000));
    }
    pixels[url] = {width: canvas.width, height: canvas.height, rgba: btoa(text)};
  }
  const errors = [];
  for (const {method, args} of request.badCalls || []) {
    try {
      await (method === 'load' ? posenet.load(...args) : net[method](await image(request.cases[0].image), ...args));
      errors.push(null);
    } catch (error) {
      errors.push(error.message);
    }
  }
  await net.dispose();
  return {
    results,
    pixels,
    errors,
    environment: {
      hardwareConcurrency: navigator.hardwareConcurrency,
      crossOriginIsolated: self.crossOriginIsolated,
      numThreads: posenet.ort.env.wasm.numThreads,
      onnxruntimeWeb: posenet.ort.env.versions.web,
    },
  };
}

answer(async () => {
  const req = request();
  return withPage({origin: new URL(req.site).origin}, async (page, record, chromium) => {
    await page.goto(req.page, {waitUntil: 'load'});
    const result = await page.evaluate(inPage, req);
    result.environment.chromium = chromium.version;
    return {...result, record};
  });
});
