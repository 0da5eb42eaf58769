// npm run bench — how fast the harness is, per runtime, as min / median / max over several runs:
// time to a healthy default stack, time to bring up 1, 4 and 16 workers, crash-detection latency
// (SIGKILL of a worker → the hive's `worker.crashed` log line), partition detection (queen marks the
// hive unavailable; docker only), and the smoke suite's wall time.
// Usage: node --import tsx bench/run.ts [--runs N] [--runtimes process,docker] [--no-suite]
// Numbers vary with the machine's load (printed); compare medians and the docker/process ratio.

import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { ProcessRuntime } from '../lib/stack/process-runtime.ts';
import { Stack } from '../lib/stack/stack.ts';
import { StackSpecBuilder } from '../lib/stack/spec.ts';
import type { Runtime } from '../lib/stack/runtime.ts';
import { registerRun, unregisterRun } from '../lib/stack/reaper.ts';
import { eventually } from '../lib/observe/eventually.ts';
import { Nemesis } from '../lib/faults/nemesis.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 5);
const runId = `bench-${process.pid}`;
let seq = 0;

async function runtimes(): Promise<Runtime[]> {
  const wanted = (arg('--runtimes') ?? 'process,docker').split(',');
  const out: Runtime[] = [];
  if (wanted.includes('process')) out.push(new ProcessRuntime());
  if (wanted.includes('docker')) {
    const docker = await import('../lib/docker/docker-runtime.ts');
    const problem = await docker.dockerUnavailable();
    if (problem) console.log(`docker runtime skipped: ${problem}`);
    else out.push(new docker.DockerRuntime());
  }
  return out;
}

async function withStack<T>(rt: Runtime, build: (b: StackSpecBuilder) => StackSpecBuilder, fn: (s: Stack, startMs: number) => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const stack = await Stack.start(build(new StackSpecBuilder()).build(), rt, { runId, stackId: `b${++seq}` });
  const startMs = performance.now() - t0;
  try {
    return await fn(stack, startMs);
  } finally {
    await stack.stop();
  }
}

async function sample(n: number, fn: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return out;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s.at(-1)! };
};

const rows: Array<{ what: string; runtime: string; n: number; min: number; median: number; max: number }> = [];
function record(what: string, runtime: string, xs: number[]) {
  rows.push({ what, runtime, n: xs.length, ...stats(xs) });
  const r = rows.at(-1)!;
  console.log(`  ${what.padEnd(38)} ${runtime.padEnd(8)} n=${r.n}  median ${r.median.toFixed(0)} ms`);
}

registerRun(runId);
try {
  console.log(`machine: ${os.cpus().length} cpus, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
  for (const rt of await runtimes()) {
    console.log(`${rt.name} runtime`);
    await withStack(rt, (b) => b.hives(1, 0), async () => 0); // warm-up (image build/cache, tsx cache)
    record('healthy default stack (1 hive, 1 worker)', rt.name, await sample(RUNS, () => withStack(rt, (b) => b, async (_s, ms) => ms)));
    for (const n of [1, 4, 16]) {
      record(`bring up ${n} worker(s)`, rt.name, await sample(Math.max(2, Math.floor(RUNS / 2)), () =>
        withStack(rt, (b) => b.hives(1, 0).hiveEnv({ RBEE_MAX_WORKERS: '16' }), async (s) => {
          const t0 = performance.now();
          await s.spawnWorkers('hive-a', n, s.spec.hives[0]!.model, 60_000);
          return performance.now() - t0;
        })));
    }
    record('crash detection (kill → worker.crashed)', rt.name, await sample(RUNS, () => withStack(rt, (b) => b, async (s) => {
      const [w] = await s.hive('hive-a').workers();
      const fault = await new Nemesis(s).crashWorker('hive-a', w!.worker_id);
      const line = await eventually(() => {
        const l = s.logs('hive-a').find((x) => x.event === 'worker.crashed');
        if (!l) throw new Error('no worker.crashed yet');
        return l;
      }, { within: 10_000, every: 10, what: 'worker.crashed' });
      return Date.parse(line.ts) - fault.appliedAt;
    })));
    if (rt.name === 'docker') {
      record('partition detection (queen: unavailable)', rt.name, await sample(Math.max(2, Math.floor(RUNS / 2)), () => withStack(rt, (b) => b.hives(1, 0), async (s) => {
        const nemesis = new Nemesis(s);
        const fault = await nemesis.partition('queen', 'hive-a');
        await eventually(async () => {
          const r = await s.queen.hives();
          if (r.json.nodes[0]?.status !== 'unavailable') throw new Error('still available');
        }, { within: 20_000, every: 25, what: 'hive-a unavailable' });
        const ms = Date.now() - fault.appliedAt;
        await nemesis.healAll();
        return ms;
      })));
    }
    if (!process.argv.includes('--no-suite')) {
      const t0 = performance.now();
      const r = spawnSync('bash', ['run-integration-tests.sh', '--runtime', rt.name, '--profile', 'smoke'], { encoding: 'utf8', env: { ...process.env, RBEE_REPORTS_DIR: `reports/bench-${rt.name}` } });
      if (r.status !== 0) console.log(`  smoke suite failed:\n${r.stdout.slice(-800)}`);
      record('smoke suite wall time', rt.name, [performance.now() - t0]);
    }
  }
} finally {
  unregisterRun(runId);
}

console.log('\n| measurement | runtime | n | min ms | median ms | max ms | ratio to process (median) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  const base = rows.find((x) => x.what === r.what && x.runtime === 'process');
  const ratio = base && r.runtime !== 'process' ? (r.median / base.median).toFixed(2) : '';
  console.log(`| ${r.what} | ${r.runtime} | ${r.n} | ${r.min.toFixed(0)} | ${r.median.toFixed(0)} | ${r.max.toFixed(0)} | ${ratio} |`);
}
