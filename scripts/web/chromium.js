// Debian's headless Chromium driven by puppeteer-core (which downloads no browser), shared by the browser
// tests' scripts (estimate.js, camera.js) and the benchmark (bench.js).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * A fresh Chromium (its own temporary profile, removed by close()); `fakeCamera` names a .y4m clip that
 * Chromium's fake camera plays, with the camera permission granted.
 */
async function launch({fakeCamera = null, extraFlags = []} = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'posenet-chromium-'));
  const args = [...FLAGS, `--user-data-dir=${profile}`, ...extraFlags];
  if (fakeCamera) {
    args.push('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
              `--use-file-for-fake-video-capture=${fakeCamera}`);
  }
  let browser;
  try {
    browser = await puppeteer.launch({executablePath: CHROMIUM, headless: false, args, protocolTimeout: 600000});
  } catch (error) {
    fs.rmSync(profile, {recursive: true, force: true});
    throw error;
  }
  return {
    browser,
    version: await browser.version(),
    async close() {
      await browser.close();
      fs.rmSync(profile, {recursive: true, force: true});
    },
  };
}

/**
 * Records what a page does: every request's URL, console errors and uncaught errors (pageerror), and the
 * requests that leave `origin` (anything but same-origin, data: and blob: URLs).
 */
function watch(page, origin) {
  const record = {requests: [], offOrigin: [], consoleErrors: [], pageErrors: [], failed: []};
  page.on('request', (request) => {
    const url = request.url();
    record.requests.push(url);
    if (!url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin) {
      record.offOrigin.push(url);
    }
  });
  page.on('requestfailed', (request) => record.failed.push(`${request.url()}: ${request.failure()?.errorText}`));
  page.on('console', (message) => {
    if (message.type() === 'error') {
      record.consoleErrors.push(message.text());
    }
  });
  page.on('pageerror', (error) => record.pageErrors.push(String(error.stack || error)));
  return record;
}

/**
 * A fresh Chromium (launch's options) with one page whose requests and errors `watch` records against
 * `origin`: `use(page, record, chromium)`'s result, the browser closed afterwards whatever happens.
 */
async function withPage({origin, ...options}, use) {
  const chromium = await launch(options);
  try {
    const page = await chromium.browser.newPage();
    return await use(page, watch(page, origin), chromium);
  } finally {
    await chromium.close();
  }
}

/** The JSON request named on the command line. */
function request() {
  return JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
}

/** Run `main` and print its answer as JSON; an error ends the process with its stack on stderr. */
function answer(main) {
  main().then((result) => {
    process.stdout.write(JSON.stringify(result));
  }, (error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  });
}

module.exports = {withPage, request, answer};
