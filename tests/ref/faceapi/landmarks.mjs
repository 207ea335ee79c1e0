#!/usr/bin/env node
// Running reference for the 68-point landmark network (face_landmark_68_model): face-api's
// own FaceLandmark68Net (@vladmandic/face-api 1.7.15, bundle dist/face-api.node-wasm.js) on
// @tensorflow/tfjs 4.22.0, "wasm" backend by default ("cpu" optional).
//
//   node landmarks.mjs --model-dir DIR --input images.npy --boxes boxes.npy --output out.npy
//       images.npy: uint8 (N, H, W, 3) RGB; boxes.npy: float32 (N, 4), one face per image as
//       x1, y1, x2, y2 in pixels (what facerec's detector reports).
//       out.npy: float32 (N, 68, 2), the landmarks in image pixels, computed the way
//       detectAllFaces(...).withFaceLandmarks() does on a tensor input
//       (DetectAllFaceLandmarksTask + extendWithFaceLandmarks): extractFaceTensors(image,
//       [box]) (the box clipped to the image and floored), faceLandmark68Net.detectLandmarks
//       (pad to square, bilinear resize to 112, the network, postProcess), shiftBy(box.x, box.y).
//   node landmarks.mjs --input images.npy --boxes boxes.npy --output out.npy --inputs-only
//       out.npy: float32 (N, 112, 112, 3), the network input face-api makes of each face
//       (extractFaceTensors + NetInput.toBatchTensor(112, true)), before normalization.
//   node landmarks.mjs --model-dir DIR --input crops.npy --output out.npy --net-only
//       crops.npy: uint8 (N, 112, 112, 3), the network inputs themselves (no padding, no
//       resizing happens); out.npy: float32 (N, 68, 2) in pixels of the 112x112 crop.
//   [--backend wasm|cpu] [--quiet]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { readNpy, writeNpy } from './npy.mjs';

const require = createRequire(import.meta.url);

function usage(msg) {
  const u = 'usage: node landmarks.mjs --model-dir DIR --input images.npy --boxes boxes.npy --output out.npy\n'
    + '       node landmarks.mjs --input images.npy --boxes boxes.npy --output out.npy --inputs-only\n'
    + '       node landmarks.mjs --model-dir DIR --input crops.npy --output out.npy --net-only\n'
    + '       [--backend wasm|cpu] [--quiet]\n';
  if (msg) {
    process.stderr.write(`landmarks.mjs: ${msg}\n${u}`);
    process.exit(2);
  }
  process.stdout.write(u);
  process.exit(0);
}

function parseArgs(argv) {
  const a = { backend: 'wasm', netOnly: false, inputsOnly: false, modelDir: null, input: null, boxes: null, output: null, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`missing value for ${k}`);
      return argv[++i];
    };
    if (k === '--model-dir') a.modelDir = val();
    else if (k === '--input') a.input = val();
    else if (k === '--boxes') a.boxes = val();
    else if (k === '--output') a.output = val();
    else if (k === '--backend') a.backend = val();
    else if (k === '--net-only') a.netOnly = true;
    else if (k === '--inputs-only') a.inputsOnly = true;
    else if (k === '--quiet') a.quiet = true;
    else if (k === '-h' || k === '--help') usage(null);
    else usage(`unknown argument ${k}`);
  }
  if (!a.input || !a.output) usage('--input and --output are required');
  if (!a.inputsOnly && !a.modelDir) usage('--model-dir is required (unless --inputs-only)');
  if (!a.netOnly && !a.boxes) usage('--boxes is required (unless --net-only)');
  if (a.backend !== 'cpu' && a.backend !== 'wasm') usage(`unknown backend ${a.backend}`);
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

  const net = faceapi.nets.faceLandmark68Net;
  if (!args.inputsOnly) {
    const modelDir = path.resolve(args.modelDir);
    const manifest = path.join(modelDir, 'face_landmark_68_model-weights_manifest.json');
    if (!fs.existsSync(manifest)) throw new Error(`${manifest} not found`);
    await net.loadFromDisk(modelDir);
  }

  const inp = readNpy(args.input);
  if (inp.shape.length !== 4 || inp.shape[3] !== 3 || !(inp.data instanceof Uint8Array)) {
    throw new Error(`input must be uint8 (N, H, W, 3), got ${inp.dtype} (${inp.shape})`);
  }
  const [N, H, W] = inp.shape;
  if (args.netOnly && (H !== 112 || W !== 112)) throw new Error('--net-only takes 112x112 crops');
  const per = H * W * 3;
  let boxes = null;
  if (!args.netOnly) {
    boxes = readNpy(args.boxes);
    if (boxes.shape.length !== 2 || boxes.shape[0] !== N || boxes.shape[1] !== 4) {
      throw new Error(`boxes must be float32 (${N}, 4), got (${boxes.shape})`);
    }
  }
  const S = 112;
  const out = new Float32Array(args.inputsOnly ? N * S * S * 3 : N * 68 * 2);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const image = tf.tensor3d(Int32Array.from(inp.data.subarray(i * per, (i + 1) * per)), [H, W, 3], 'int32');
    let landmarks;
    if (args.netOnly) {
      landmarks = await net.detectLandmarks(image);
    } else {
      const [x1, y1, x2, y2] = boxes.data.subarray(4 * i, 4 * i + 4);
      const box = new faceapi.Box({ left: x1, top: y1, right: x2, bottom: y2 });
      const faces = await faceapi.extractFaceTensors(image, [box]);
      if (faces.length !== 1) throw new Error(`image ${i}: the box (${x1}, ${y1}, ${x2}, ${y2}) leaves no face region`);
      if (args.inputsOnly) {
        // what FaceFeatureExtractor.forwardInput takes before normalize()
        const batch = (await faceapi.toNetInput(faces[0])).toBatchTensor(S, true);
        out.set(await batch.data(), i * S * S * 3);
        batch.dispose();
        faces.forEach((f) => f.dispose());
        image.dispose();
        continue;
      }
      landmarks = (await net.detectLandmarks(faces[0])).shiftBy(box.x, box.y);
      faces.forEach((f) => f.dispose());
    }
    landmarks.positions.forEach((p, k) => {
      out[(i * 68 + k) * 2] = p.x;
      out[(i * 68 + k) * 2 + 1] = p.y;
    });
    image.dispose();
  }
  writeNpy(args.output, out, args.inputsOnly ? [N, S, S, 3] : [N, 68, 2]);
  log(`landmarks: ${N} ${args.netOnly ? 'crops' : 'faces'}${args.inputsOnly ? ' (inputs only)' : ''} in ${(performance.now() - t0).toFixed(1)} ms`);
}

main().catch((e) => {
  process.stderr.write(`landmarks.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
