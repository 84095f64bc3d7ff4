// The camera demo: poses in the webcam's frames, a photo or a video file, drawn over the picture, with the
// controls of posenet 1.x's demo. All estimation is posenet.js; this file reads controls and draws.

import * as posenet from './posenet.js';

const COLOR = 'aqua';
const BOX_COLOR = 'red';
const LINE_WIDTH = 2;
const POINT_RADIUS = 3;
const PREFERRED_MULTIPLIER = 0.75; // upstream's demo default on desktops
const CAMERA = {audio: false, video: {facingMode: 'user', width: 640, height: 480}};

const element = (id) => document.getElementById(id);
const canvas = element('output');
const context = canvas.getContext('2d');
const video = element('video');
const controls = element('controls');

const state = {
  net: null, // the loaded PoseNet
  netMultiplier: null,
  source: null, // {kind: 'camera' | 'video' | 'image', picture: HTMLVideoElement | HTMLImageElement}
  loop: 0, // the running frame loop's number; a new source or model starts a new one
  frameMs: null, // running mean of the time between estimates
};

// ---- controls ----

function settings() {
  const algorithm = element('algorithm').value;
  const prefix = algorithm === 'single-pose' ? 'single-' : 'multi-';
  const number = (id) => Number(element(id).value);
  return {
    algorithm,
    multiplier: number('multiplier'),
    outputStride: number('outputStride'),
    imageScaleFactor: number('imageScaleFactor'),
    flipHorizontal: element('flipHorizontal').checked,
    minPoseConfidence: number(`${prefix}minPoseConfidence`),
    minPartConfidence: number(`${prefix}minPartConfidence`),
    maxPoseDetections: number('multi-maxPoseDetections'),
    nmsRadius: number('multi-nmsRadius'),
    showVideo: element('showVideo').checked,
    showSkeleton: element('showSkeleton').checked,
    showPoints: element('showPoints').checked,
    showBoundingBox: element('showBoundingBox').checked,
  };
}

function fillSelect(select, values, preferred) {
  select.replaceChildren(...values.map((value) => new Option(String(value), String(value))));
  select.value = String(values.includes(preferred) ? preferred : values[0]);
}

function offerModels() {
  const models = posenet.siteModels();
  const algorithm = element('algorithm');
  for (const option of algorithm.options) { // 'single-pose' runs the site's 'single' graphs, 'multi-pose' its 'multi'
    option.disabled = !models.some((m) => `${m.decoder}-pose` === option.value);
  }
  if (algorithm.selectedOptions[0].disabled) {
    algorithm.value = [...algorithm.options].find((option) => !option.disabled).value;
  }
  const multipliers = [...new Set(models.map((m) => m.multiplier))].sort((a, b) => a - b);
  fillSelect(element('multiplier'), multipliers, PREFERRED_MULTIPLIER);
  offerStrides();
}

function offerStrides() {
  const multiplier = Number(element('multiplier').value);
  const strides = [...new Set(posenet.siteModels().filter((m) => m.multiplier === multiplier)
      .map((m) => m.outputStride))].sort((a, b) => a - b);
  const current = Number(element('outputStride').value);
  fillSelect(element('outputStride'), strides, strides.includes(current) ? current : 16);
}

function showValues() {
  for (const output of controls.querySelectorAll('output')) {
    output.value = output.previousElementSibling.value;
  }
  const algorithm = element('algorithm').value;
  element('single-pose').hidden = algorithm !== 'single-pose';
  element('multi-pose').hidden = algorithm !== 'multi-pose';
}

function say(text) {
  element('message').textContent = text;
  element('message').hidden = !text;
}

// ---- the model ----

async function loadModel() {
  const multiplier = Number(element('multiplier').value);
  if (state.net !== null && state.netMultiplier === multiplier) {
    return;
  }
  say(`Loading the ${multiplier} model…`);
  const previous = state.net;
  state.net = null;
  const net = await posenet.load(multiplier);
  if (previous !== null) {
    await previous.dispose();
  }
  state.net = net;
  state.netMultiplier = multiplier;
  const isolated = self.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated: one thread';
  element('runtime').textContent = `onnxruntime-web ${posenet.ort.env.versions.web} · WebAssembly · ` +
      `${posenet.ort.env.wasm.numThreads} thread(s), ${isolated}`;
  say('');
}

async function estimate(picture, s) {
  if (s.algorithm === 'single-pose') {
    return [await state.net.estimateSinglePose(picture, s.imageScaleFactor, s.flipHorizontal, s.outputStride)];
  }
  // As upstream's demo: the min part confidence is the decoder's score threshold for root parts.
  return state.net.estimateMultiplePoses(picture, s.imageScaleFactor, s.flipHorizontal, s.outputStride,
                                         s.maxPoseDetections, s.minPartConfidence, s.nmsRadius);
}

// ---- drawing ----

function pictureSize(picture) {
  return picture instanceof HTMLVideoElement ? [picture.videoWidth, picture.videoHeight] : [picture.width, picture.height];
}

function draw(picture, poses, s) {
  const [width, height] = pictureSize(picture);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  context.clearRect(0, 0, width, height);
  if (s.showVideo) {
    context.save();
    if (s.flipHorizontal) { // the poses are the mirrored picture's: show that picture
      context.scale(-1, 1);
      context.translate(-width, 0);
    }
    context.drawImage(picture, 0, 0, width, height);
    context.restore();
  }
  for (const {score, keypoints} of poses) {
    if (score < s.minPoseConfidence) {
      continue;
    }
    if (s.showPoints) {
      drawPoints(keypoints, s.minPartConfidence);
    }
    if (s.showSkeleton) {
      drawSkeleton(keypoints, s.minPartConfidence);
    }
    if (s.showBoundingBox) {
      drawBoundingBox(keypoints);
    }
  }
}

function drawPoints(keypoints, minConfidence) {
  context.fillStyle = COLOR;
  for (const {score, position} of keypoints) {
    if (score >= minConfidence) {
      context.beginPath();
      context.arc(position.x, position.y, POINT_RADIUS, 0, 2 * Math.PI);
      context.fill();
    }
  }
}

function drawSkeleton(keypoints, minConfidence) {
  context.strokeStyle = COLOR;
  context.lineWidth = LINE_WIDTH;
  for (const [a, b] of posenet.getAdjacentKeyPoints(keypoints, minConfidence)) {
    context.beginPath();
    context.moveTo(a.position.x, a.position.y);
    context.lineTo(b.position.x, b.position.y);
    context.stroke();
  }
}

function drawBoundingBox(keypoints) {
  const {minX, minY, maxX, maxY} = posenet.getBoundingBox(keypoints);
  context.strokeStyle = BOX_COLOR;
  context.lineWidth = LINE_WIDTH;
  context.strokeRect(minX, minY, maxX - minX, maxY - minY);
}

// ---- frames ----

function countFrame(started) {
  const ms = performance.now() - started;
  state.frameMs = state.frameMs === null ? ms : 0.9 * state.frameMs + 0.1 * ms;
  const fps = element('fps');
  fps.dataset.frames = String(Number(fps.dataset.frames) + 1);
  fps.textContent = `${(1000 / state.frameMs).toFixed(1)} fps (${state.frameMs.toFixed(0)} ms a frame)`;
}

async function showPoses() {
  const {picture} = state.source;
  const s = settings();
  const poses = await estimate(picture, s);
  draw(picture, poses, s);
}

function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(resolve));
}

/** Estimate and draw frame after frame until another source or model takes over. */
async function run() {
  const loop = ++state.loop;
  state.frameMs = null;
  try {
    await loadModel();
    if (state.source === null || loop !== state.loop) {
      return;
    }
    if (state.source.kind === 'image') {
      await showPoses();
      return;
    }
    while (loop === state.loop) {
      const started = performance.now();
      if (video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA) {
        await showPoses();
        countFrame(started);
      }
      await nextFrame();
    }
  } catch (error) {
    if (loop === state.loop) {
      say(`Error: ${error.message}`);
      throw error;
    }
  }
}

// ---- sources ----

function stopVideo() {
  for (const track of video.srcObject?.getTracks() ?? []) {
    track.stop();
  }
  video.srcObject = null;
  if (video.src) {
    URL.revokeObjectURL(video.src);
    video.removeAttribute('src');
    video.load();
  }
}

async function useCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    say('This browser gives no camera to this page (it needs https or localhost): pick or drop a photo or a video.');
    return;
  }
  stopVideo();
  state.loop++;
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia(CAMERA);
    await video.play();
  } catch (error) {
    say(`No camera (${error.message}): pick or drop a photo or a video.`);
    return;
  }
  element('flipHorizontal').checked = true;
  state.source = {kind: 'camera', picture: video};
  run();
}

async function useFile(file) {
  if (file === undefined) {
    return;
  }
  stopVideo();
  state.loop++;
  const url = URL.createObjectURL(file);
  element('flipHorizontal').checked = false;
  if (file.type.startsWith('video/')) {
    video.src = url;
    video.loop = true;
    try {
      await video.play();
    } catch {
      say(`${file.name} is not a video this browser can play.`);
      return;
    }
    state.source = {kind: 'video', picture: video};
  } else {
    const image = new Image();
    image.src = url;
    try {
      await image.decode();
    } catch {
      say(`${file.name} is not an image or a video this browser can show.`);
      return;
    } finally {
      URL.revokeObjectURL(url);
    }
    state.source = {kind: 'image', picture: image};
  }
  say('');
  run();
}

function onControlChange(event) {
  showValues();
  if (event.target.id === 'multiplier') {
    offerStrides();
  }
  if (state.source?.kind === 'image' || event.target.id === 'multiplier') {
    run(); // a photo is estimated again; a video or camera loop goes on with the new settings
  }
}

function setUp() {
  offerModels();
  showValues();
  controls.addEventListener('input', onControlChange);
  controls.addEventListener('submit', (event) => event.preventDefault());
  element('camera').addEventListener('click', useCamera);
  element('file').addEventListener('change', (event) => useFile(event.target.files[0]));
  const stage = element('stage');
  stage.addEventListener('dragover', (event) => event.preventDefault());
  stage.addEventListener('drop', (event) => {
    event.preventDefault();
    useFile(event.dataTransfer.files[0]);
  });
  loadModel().then(useCamera).catch((error) => {
    say(`Error: ${error.message}`);
    throw error;
  });
}

setUp();
