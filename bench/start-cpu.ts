// What one service process costs to start, in CPU time (user + sys of the whole process, every thread):
// a scenario starts dozens of processes on a two-core machine, so start-up CPU, not wall time, is what
// limits a parallel run. Measured for `node -e 0` (the floor), the worker entry through tsx (how services
// started until now), the same entry bundled ahead of time with esbuild with npm packages left external
// (built here into a temp dir), and the harness's own bundle (lib/stack/bundles.ts, npm packages bundled
// in), which is what the process runtime starts. The worker is used because it loads its whole module graph and
// exits at once on a bad command line (`--help` → exit 2); the hub, queen and hive would start serving.
// Each child is started with a tiny --require probe that writes process.cpuUsage() at exit.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WORKER_ENTRY = path.join(ROOT, 'stack/worker/main.ts');

/** argv after `node`, and the exit codes that mean "started and exited as expected". */
export interface StartCommand {
  args: string[];
  codes: number[];
}

export interface StartCpuProbe {
  nodeOnly: StartCommand;
  tsx: StartCommand;
  /** `{ error }` with the reason when the bundle could not be built. */
  bundled: StartCommand | { error: string };
  /** The bundle the process runtime starts (.cache/bundles), or why there is none. */
  harness: StartCommand | { error: string };
  /** CPU milliseconds of one start. */
  measure(p: StartCommand): number;
  cleanup(): void;
}

export async function startCpuProbe(): Promise<StartCpuProbe> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-bench-start-'));
  const probe = path.join(dir, 'cpu-probe.cjs');
  fs.writeFileSync(
    probe,
    [
      "'use strict';",
      "const fs = require('node:fs');",
      "process.on('exit', () => { const u = process.cpuUsage(); fs.writeFileSync(process.env.RBEE_BENCH_CPU_OUT, JSON.stringify(u)); });",
    ].join('\n'),
  );
  let bundled: StartCpuProbe['bundled'];
  try {
    bundled = { args: [await bundleWorker(dir), '--help'], codes: [2] };
  } catch (e) {
    bundled = { error: `bundle not built: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
  }
  let harness: StartCpuProbe['harness'];
  try {
    const { ensureBundles } = await import('../lib/stack/bundles.ts');
    harness = { args: [(await ensureBundles()).path('worker'), '--help'], codes: [2] };
  } catch (e) {
    harness = { error: `harness bundle not available: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
  }
  let seq = 0;
  // Without NODE_OPTIONS: `node -e 0` must not load tsx because the bench itself was started with it.
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  return {
    nodeOnly: { args: ['-e', '0'], codes: [0] },
    tsx: { args: ['--import', 'tsx', WORKER_ENTRY, '--help'], codes: [2] },
    bundled,
    harness,
    measure(p) {
      const out = path.join(dir, `cpu-${++seq}.json`);
      const r = spawnSync(process.execPath, ['--require', probe, ...p.args], {
        cwd: ROOT,
        env: { ...env, RBEE_BENCH_CPU_OUT: out },
        encoding: 'utf8',
        timeout: 60_000,
      });
      if (r.error) throw r.error;
      if (r.status === null || !p.codes.includes(r.status)) {
        throw new Error(`exit ${r.status ?? r.signal}: ${r.stderr.split('\n').find((l) => l.trim()) ?? 'no output'}`);
      }
      if (!fs.existsSync(out)) throw new Error('the child wrote no CPU figure (exited before its exit handlers ran)');
      const u = JSON.parse(fs.readFileSync(out, 'utf8')) as { user: number; system: number };
      return (u.user + u.system) / 1000;
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The worker as one ESM file; npm packages stay imports, resolved through a node_modules link. */
async function bundleWorker(dir: string): Promise<string> {
  const esbuild = await import('esbuild');
  const outfile = path.join(dir, 'worker.mjs');
  await esbuild.build({
    entryPoints: [WORKER_ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    target: `node${process.versions.node.split('.')[0]}`,
    logLevel: 'silent',
  });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return outfile;
}
