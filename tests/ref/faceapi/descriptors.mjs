#!/usr/bin/env node
// Running reference for the dlib face-descriptor model (face_recognition_model):
// face-api's own FaceRecognitionNet (@vladmandic/face-api 1.7.15, bundle
// dist/face-api.node-wasm.js) on @tensorflow/tfjs 4.22.0, pure-JS "cpu" backend
// by default ("wasm" optional).
//
//   node descriptors.mjs --model-dir DIR --input in.npy --output out.npy [--backend cpu|wasm]
//       in.npy : uint8 (N, H, W, 3) RGB (float32 is also accepted)
//       out.npy: float32 (N, 128) raw descriptors (face-api does not L2-normalise)
//   node descriptors.mjs --resize-only --input in.npy --output out.npy [--backend cpu|wasm]
//       out.npy: float32 (N, 150, 150, 3), face-api's NetInput.toBatchTensor(150, true)
//                (pad to square + resizeBilinear), i.e. the network input before mean subtraction.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { readNpy, writeNpy } from './npy.mjs';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const a = { backend: 'cpu', resizeOnly: false, modelDir: null, input: null, output: null, quiet: false };
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
    else if (k === '--resize-only') a.resizeOnly = true;
    else if (k === '--quiet') a.quiet = true;
    else if (k === '-h' || k === '--help') usage(null);
    else usage(`unknown argument ${k}`);
  }
  if (!a.input || !a.output) usage('--input and --output are required');
  if (!a.resizeOnly && !a.modelDir) usage('--model-dir is required (unless --resize-only)');
  if (a.backend !== 'cpu' && a.backend !== 'wasm') usage(`unknown backend ${a.backend}`);
  return a;
}

function usage(msg) {
  const u = 'usage: node descriptors.mjs --model-dir DIR --input in.npy --output out.npy [--backend cpu|wasm]\n'
    + '       node descriptors.mjs --resize-only --input in.npy --output out.npy [--backend cpu|wasm]\n';
  if (msg) {
    process.stderr.write(`descriptors.mjs: ${msg}\n${u}`);
    process.exit(2);
  }
  process.stdout.write(u);
  process.exit(0);
}

// ---------------------------------------------------------------- main
async function main() {
  const args = parseArgs(process.argv.slice(2));
  const log = (s) => { if (!args.quiet) process.stderr.write(`${s}\n`); };

  // The node-wasm bundle requires plain @tensorflow/tfjs (+ tfjs-backend-wasm), not tfjs-node.
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const { tf } = faceapi;
  if (!(await tf.setBackend(args.backend))) throw new Error(`cannot initialise tfjs backend ${args.backend}`);
  await tf.ready();
  log(`face-api ${faceapi.version} tfjs ${tf.version_core} backend ${tf.getBackend()}`);

  const inp = readNpy(args.input);
  if (inp.shape.length !== 4 || inp.shape[3] !== 3) throw new Error(`input shape must be (N, H, W, 3), got (${inp.shape})`);
  const [N, H, W] = inp.shape;
  const isU8 = inp.data instanceof Uint8Array;
  const per = H * W * 3;
  const imageTensor = (i) => {
    const px = inp.data.subarray(i * per, (i + 1) * per);
    return isU8 ? tf.tensor3d(Int32Array.from(px), [H, W, 3], 'int32') : tf.tensor3d(px, [H, W, 3], 'float32');
  };

  if (args.resizeOnly) {
    const S = 150;
    const out = new Float32Array(N * S * S * 3);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const img = imageTensor(i);
      const netInput = await faceapi.toNetInput(img);
      const batch = netInput.toBatchTensor(S, true); // what FaceRecognitionNet.forwardInput does
      out.set(await batch.data(), i * S * S * 3);
      batch.dispose();
      img.dispose();
    }
    writeNpy(args.output, out, [N, S, S, 3]);
    log(`resize-only: ${N} images (${H}x${W}) -> (${N}, ${S}, ${S}, 3) in ${(performance.now() - t0).toFixed(1)} ms`);
    return;
  }

  const net = faceapi.nets.faceRecognitionNet;
  const modelDir = path.resolve(args.modelDir);
  const manifest = path.join(modelDir, 'face_recognition_model-weights_manifest.json');
  if (!fs.existsSync(manifest)) throw new Error(`${manifest} not found`);
  await net.loadFromDisk(modelDir);

  const out = new Float32Array(N * 128);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const img = imageTensor(i);
    const d = await net.computeFaceDescriptor(img);
    if (!(d instanceof Float32Array) || d.length !== 128) throw new Error(`unexpected descriptor for image ${i}`);
    out.set(d, i * 128);
    img.dispose();
  }
  const ms = performance.now() - t0;
  writeNpy(args.output, out, [N, 128]);
  log(`descriptors: ${N} images (${H}x${W}) in ${ms.toFixed(1)} ms (${(ms / Math.max(N, 1)).toFixed(1)} ms/image, backend ${tf.getBackend()})`);
}

main().catch((e) => {
  process.stderr.write(`descriptors.mjs: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
