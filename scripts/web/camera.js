// The demo page (index.html) in headless Chromium on its fake camera, fed a clip: the browser side of the
// demo test (tests/test_web.py).
//
// Usage: node camera.js REQUEST.json  ->  JSON on stdout.
// REQUEST.json: {"site": BASE URL of the served site, "clip": FILE.y4m for the fake camera,
//   "frames": N frames to wait for, "drawn": PNG path for a screenshot of the picture with the poses drawn,
//   "bare": PNG path for one after "show skeleton" and "show points" are switched off}
// Answer: {"frames", "fps": the page's fps line, "runtime": its runtime line, "message", "record"}.
'use strict';

const {withPage, request, answer} = require('./chromium');

const TIMEOUT_MS = Number(process.env.POSENET_WEB_TIMEOUT_MS || 120000);

async function framesSoFar(page) {
  return page.$eval('#fps', (element) => Number(element.dataset.frames));
}

async function waitForFrames(page, count, record) {
  try {
    await page.waitForFunction((n) => Number(document.getElementById('fps').dataset.frames) >= n,
                               {timeout: TIMEOUT_MS, polling: 200}, count);
  } catch (error) {
    const message = await page.$eval('#message', (element) => element.textContent);
    throw new Error(`${error.message}; the page says "${message}"; ${JSON.stringify(record)}`);
  }
}

answer(async () => {
  const req = request();
  return withPage({origin: new URL(req.site).origin, fakeCamera: req.clip}, async (page, record) => {
    await page.setViewport({width: 1280, height: 1000});
    await page.goto(req.site, {waitUntil: 'load'});
    await waitForFrames(page, req.frames, record);
    const canvas = await page.$('#output');
    await canvas.screenshot({path: req.drawn});
    for (const id of ['#showSkeleton', '#showPoints']) {
      await page.click(id);
    }
    await waitForFrames(page, (await framesSoFar(page)) + 3, record);
    await canvas.screenshot({path: req.bare});
    return {
      frames: await framesSoFar(page),
      fps: await page.$eval('#fps', (element) => element.textContent),
      runtime: await page.$eval('#runtime', (element) => element.textContent),
      message: await page.$eval('#message', (element) => (element.hidden ? '' : element.textContent)),
      record,
    };
  });
});
