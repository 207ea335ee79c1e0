#!/usr/bin/env node
// Running reference for the tiny face detector (tiny_face_detector_model): face-api's own
// TinyFaceDetector (@vladmandic/face-api 1.7.15, bundle dist/face-api.node-wasm.js) on
// @tensorflow/tfjs 4.22.0, "wasm" backend by default ("cpu" optional).
//
//   node tinyface.mjs --model-dir DIR --input images.npy --output faces.npy
//       [--input-size 416] [--score-threshold 0.5]
//       images.npy: uint8 (N, H, W, 3) RGB. faces.npy: float32 (N, K, 5): for each image up to
//       K faces (K: the most any image has), x1, y1, x2, y2 in pixels and the score, best
//       first, rows of zeros after an image's last face: what
//       faceapi.detectAllFaces(image, new TinyFaceDetectorOptions({inputSize, scoreThreshold}))
//       returns on a tensor input (box: FaceDetection.box, score: FaceDetection.score).
//   node tinyface.mjs --model-dir DIR --input inputs.npy --output maps.npy --net-only
//       inputs.npy: uint8 (N, S, S, 3), S the input size (a multiple of 32): no padding, no
//       resizing happens. maps.npy: float32 (N, S/32, S/32, 25), the network's raw output
//       (TinyFaceDetector.forward).
//   [--backend wasm|cpu] [--quiet]
import path from 'node:path';
import fs from 'node:fs';
import { createRequire } from 'node:module';

import { readNpy, writeNpy } from './npy.mjs';

const require = createRequire(import.meta.url);

function usage(msg) {
  const u = 'usage: node tinyface.mjs --model-dir DIR --input images.npy --output faces.npy\n'
    + '           [--input-size 416] [--score-threshold 0.5]\n'
    + '       node tinyface.mjs --model-dir DIR --input inputs.npy --output maps.npy --net-only\n'
    + '       [--backend wasm|cpu] [--quiet]\n';
  if (msg) {
    process.stderr.write(`tinyface.mjs: ${msg}\n${u}`);
    process.exit(2);
  }
  process.stdout.write(u);
  process.exit(0);
}

function parseArgs(argv) {
  const a = { backend: 'wasm', netOnly: false, modelDir: null, input: null, output: null, quiet: false, inputSize: 416, scoreThreshold: 0.5 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`missing value for ${k}`);
      return argv[++i];
    };
    if (k === '--model-dir') a.modelDir = val();
    else if (k === '--input') a.input = val();
    else if (k === '--output') a.output = val();
    else if (k === '--backend') a.backend = val();
    else if (k === '--input-size') a.inputSize = Number(val());
    else if (k === '--score-threshold') a.scoreThreshold = Number(val());
    else if (k === '--net-only') a.netOnly = true;
    else if (k === '--quiet') a.quiet = true;
    else if (k === '-h' || k === '--help') usage(null);
    else usage(`unknown argument ${k}`);
  }
  if (!a.input || !a.output || !a.modelDir) usage('--model-dir, --input and --output are required');
  if (a.backend !== 'cpu' && a.backend !== 'wasm') usage(`unknown backend ${a.backend}`);
  if (!(a.inputSize >= 32 && a.inputSize % 32 === 0)) usage(`--input-size ${a.inputSize}: a multiple of 32`);
  if (!(a.scoreThreshold > 0 && a.scoreThreshold < 1)) usage(`--score-threshold ${a.scoreThreshold}: in (0, 1)`);
  return a;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const log = (s) => { if (!args.quiet) process.stderr.write(`${s}\n`); };
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const { tf } = faceapi;
  if (!(await tf.setBackend(args.backend))) throw new Error(`cannot initialise tfjs backend ${args.backend}`);
  await tf.ready();
  log(`face-api ${faceapi.version} tfjs ${tf.version_core} backend ${tf.getBackend()}`);
  const modelDir = path.resolve(args.modelDir);
  const manifest = path.join(modelDir, 'tiny_face_detector_model-weights_manifest.json');
  if (!fs.existsSync(manifest)) throw new Error(`${manifest} not found`);
  const net = faceapi.nets.tinyFaceDetector;
  await net.loadFromDisk(modelDir);

  const inp = readNpy(args.input);
  if (inp.shape.length !== 4 || inp.shape[3] !== 3 || !(inp.data instanceof Uint8Array)) {
    throw new Error(`input must be uint8 (N, H, W, 3), got ${inp.dtype} (${inp.shape})`);
  }
  const [N, H, W] = inp.shape;
  const per = H * W * 3;
  const t0 = performance.now();
  if (args.netOnly) {
    if (H !== W || H % 32 !== 0) throw new Error(`--net-only takes square inputs of a multiple of 32, got ${H}x${W}`);
    const cells = H / 32;
    const out = new Float32Array(N * cells * cells * 25);
    for (let i = 0; i < N; i++) {
      const image = tf.tensor3d(Int32Array.from(inp.data.subarray(i * per, (i + 1) * per)), [H, W, 3], 'int32');
      const map = await net.forward(image, H);
      if (map.shape[1] !== cells || map.shape[2] !== cells || map.shape[3] !== 25) throw new Error(`output ${map.shape}`);
      out.set(await map.data(), i * cells * cells * 25);
      map.dispose();
      image.dispose();
    }
    writeNpy(args.output, out, [N, cells, cells, 25]);
    log(`tinyface: ${N} network inputs in ${(performance.now() - t0).toFixed(1)} ms`);
    return;
  }
  const options = new faceapi.TinyFaceDetectorOptions({ inputSize: args.inputSize, scoreThreshold: args.scoreThreshold });
  const found = [];
  for (let i = 0; i < N; i++) {
    const image = tf.tensor3d(Int32Array.from(inp.data.subarray(i * per, (i + 1) * per)), [H, W, 3], 'int32');
    const faces = await faceapi.detectAllFaces(image, options);
    found.push(faces.map((f) => [f.box.left, f.box.top, f.box.right, f.box.bottom, f.score]));
    image.dispose();
  }
  const K = Math.max(1, ...found.map((f) => f.length));
  const out = new Float32Array(N * K * 5);
  found.forEach((faces, i) => faces.forEach((f, k) => out.set(f, (i * K + k) * 5)));
  writeNpy(args.output, out, [N, K, 5]);
  log(`tinyface: ${N} images, ${found.reduce((s, f) => s + f.length, 0)} faces in ${(performance.now() - t0).toFixed(1)} ms`);
}

main().catch((e) => {
  process.stderr.write(`tinyface.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
