// validate.mjs: Kubernetes manifests checked offline, twice over.
//   1. kubernetes-models' validators, compiled from the official Kubernetes OpenAPI schema:
//      types, enums, formats, required fields.
//   2. TypeScript's excess-property check against kubernetes-models' types (generated from
//      the same schema): a misspelt or misplaced field, which the OpenAPI schema itself
//      allows (no additionalProperties: false) and only a strict API server refuses.
// kubectl cannot do this here: even `create --dry-run=client` asks a server for its API groups.
//
//   node validate.mjs FILE.yaml...      "FILE: N documents valid", or each error; exit 1 on any
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
// apiVersion/kind -> the kubernetes-models module and its interface
const KINDS = {
  "batch/v1/Job": ["kubernetes-models/batch/v1/Job", "IJob"],
  "v1/PersistentVolumeClaim": ["kubernetes-models/v1/PersistentVolumeClaim", "IPersistentVolumeClaim"],
};

let failed = 0;
const typed = []; // [file, index, module, interface, object]
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  let count = 0;
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length) {
      console.log(`${file}: document ${i + 1}: ${doc.errors[0].message}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    const kind = KINDS[`${obj.apiVersion}/${obj.kind}`];
    if (!kind) {
      console.log(`${file}: document ${i + 1}: no schema here for ${obj.apiVersion} ${obj.kind}`);
      failed++;
      continue;
    }
    const Model = (await import(kind[0]))[obj.kind];
    try {
      new Model(obj).validate();
    } catch (e) {
      console.log(`${file}: document ${i + 1}: ${e.message.split("\n")[0]}`);
      failed++;
    }
    typed.push([file, i + 1, ...kind, obj]);
    count++;
  }
  if (!count) {
    console.log(`${file}: no documents`);
    failed++;
  }
}

// One program: a virtual module per document, `const doc: IJob = {...}`, in this folder so that
// its imports resolve to our node_modules.
const sources = new Map();
typed.forEach(([file, index, module, iface, obj], n) => {
  sources.set(join(here, `doc${n}.ts`), {
    file, index,
    text: `import type { ${iface} } from "${module}";\nexport const doc: ${iface} = ${JSON.stringify(obj, null, 2)};\n`,
  });
});
const options = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext,
                  moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: [] };
const host = ts.createCompilerHost(options);
const getSourceFile = host.getSourceFile;
host.getSourceFile = (name, language, ...rest) => sources.has(name)
  ? ts.createSourceFile(name, sources.get(name).text, language)
  : getSourceFile(name, language, ...rest);
const fileExists = host.fileExists;
host.fileExists = (name) => sources.has(name) || fileExists(name);
const program = ts.createProgram([...sources.keys()], options, host);
for (const d of ts.getPreEmitDiagnostics(program)) {
  const source = d.file && sources.get(d.file.fileName);
  const where = source ? `${source.file}: document ${source.index}` : d.file ? d.file.fileName : "typescript";
  console.log(`${where}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`);
  failed++;
}
const files = new Set(typed.map((t) => t[0]));
for (const f of files)
  if (!failed) console.log(`${f}: ${typed.filter((t) => t[0] === f).length} documents valid`);
process.exit(failed ? 1 : 0);
