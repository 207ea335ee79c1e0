// extract.mjs: what a Job manifest would run, for a test to run it here:
//   node extract.mjs JOB.yaml DIR   writes DIR/script.sh (the first container's `sh -c` script),
//                                   DIR/env (its env, KEY=VALUE lines), DIR/completions
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parse } from "yaml";

const [file, dir] = process.argv.slice(2);
const job = parse(readFileSync(file, "utf8"));
const container = job.spec.template.spec.containers[0];
const [shell, flag] = container.command;
if (!/\/sh$/.test(shell) || flag !== "-c" || container.args.length !== 1)
  throw new Error(`${file}: the container does not run one sh -c script`);
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/script.sh`, container.args[0]);
writeFileSync(`${dir}/env`, (container.env || []).map((e) => `${e.name}=${e.value}\n`).join(""));
writeFileSync(`${dir}/completions`, `${job.spec.completions ?? 1} ${job.spec.parallelism ?? 1}\n`);
