// npy.mjs: .npy reading (uint8 or float32, C order) and writing (float32) for the harnesses.
import fs from 'node:fs';

// Format versions 1.0 (2-byte header length) and 2.0/3.0 (4-byte), little-endian, C order.
const DTYPES = {
  '|u1': Uint8Array, '<u1': Uint8Array, u1: Uint8Array,
  '<f4': Float32Array, f4: Float32Array,
};

export function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  let hlen; let off;
  if (major === 1) { hlen = buf.readUInt16LE(8); off = 10; } else if (major === 2 || major === 3) { hlen = buf.readUInt32LE(8); off = 12; } else throw new Error(`${file}: unsupported .npy version ${major}.${buf[7]}`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', off, off + hlen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: cannot parse header ${header}`);
  if (fortran[1] !== 'False') throw new Error(`${file}: fortran_order arrays are not supported`);
  const Ctor = DTYPES[descr[1]];
  if (!Ctor) throw new Error(`${file}: unsupported dtype ${descr[1]} (want uint8 or <f4)`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const count = dims.reduce((x, y) => x * y, 1);
  const start = off + hlen;
  const nbytes = count * Ctor.BYTES_PER_ELEMENT;
  if (buf.length - start < nbytes) throw new Error(`${file}: truncated (${buf.length - start} < ${nbytes} bytes)`);
  const ab = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + start + nbytes); // aligned copy
  return { dtype: descr[1], shape: dims, data: new Ctor(ab) };
}

export function writeNpy(file, data, shape) {
  if (!(data instanceof Float32Array)) throw new Error('writeNpy: float32 only');
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shp}, }`;
  const total = 10 + header.length + 1; // magic(6) + version(2) + len(2) + header + '\n'
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}
