// npm run bench — how fast the harness is, honestly: per runtime, the time to a healthy default stack, to
// bring up 1, 4 and 16 workers, crash-detection latency (SIGKILL of a worker → the hive's `worker.crashed`
// log line), partition detection (queen marks the hive unavailable; docker only) and the smoke suite's
// wall time; on the host, the CPU cost of starting one service process (node -e 0, through tsx, bundled
// with npm packages external, and the harness's own bundle).
// With --suite, also the PR suite's wall time serial (--parallel 1) against the default parallelism
// (slow: minutes per runtime). Every figure is min / median / max with the machine's load beside it and,
// where the issue sets one, its target and whether the median meets it. A sample that fails is recorded
// with its reason and the bench goes on. Numbers vary with the load; compare medians.
// Usage: node --import tsx bench/run.ts [--runs N] [--start-runs N] [--runtimes process,docker] [--no-suite] [--suite]

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ProcessRuntime } from '../lib/stack/process-runtime.ts';
import { Stack } from '../lib/stack/stack.ts';
import { StackSpecBuilder } from '../lib/stack/spec.ts';
import type { Runtime } from '../lib/stack/runtime.ts';
import { registerRun, unregisterRun } from '../lib/stack/reaper.ts';
import { eventually } from '../lib/observe/eventually.ts';
import { Nemesis } from '../lib/faults/nemesis.ts';
import {
  CI_RUN,
  Figures,
  HEALTHY_STACK,
  PR_SUITE,
  PR_SUITE_SERIAL,
  SIXTEEN_WORKERS,
  START_BUNDLE,
  START_HARNESS,
  START_NODE,
  START_TSX,
  reasonOf,
  sample,
  stats,
} from './figures.ts';
import { startCpuProbe, type StartCommand } from './start-cpu.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Options {
  runs: number;
  startRuns: number;
  runtimes: Array<'process' | 'docker'>;
  /** The smoke suite's wall time (on unless --no-suite). */
  smoke: boolean;
  /** The PR suite serial vs default parallelism (off unless --suite). */
  suite: boolean;
}

function usage(problem: string): never {
  console.error(
    `bench: ${problem}\nusage: npm run bench -- [--runs N] [--start-runs N] [--runtimes process,docker] [--no-suite] [--suite]`,
  );
  process.exit(2);
}

function parseOptions(argv: readonly string[]): Options {
  const o: Options = { runs: 5, startRuns: 8, runtimes: ['process', 'docker'], smoke: true, suite: false };
  const count = (name: string, v: string | undefined) => {
    if (!v || !/^[1-9]\d*$/.test(v)) usage(`${name} needs a positive number`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--runs') o.runs = count(a, argv[++i]);
    else if (a === '--start-runs') o.startRuns = count(a, argv[++i]);
    else if (a === '--runtimes') {
      const list = (argv[++i] ?? '').split(',').filter(Boolean);
      const bad = list.filter((r) => r !== 'process' && r !== 'docker');
      if (list.length === 0 || bad.length)
        usage(`--runtimes takes process and/or docker${bad.length ? `, not ${bad.join(', ')}` : ''}`);
      o.runtimes = list as Options['runtimes'];
    } else if (a === '--no-suite') o.smoke = false;
    else if (a === '--suite') o.suite = true;
    else usage(`unknown option ${a}`);
  }
  if (o.suite && !o.smoke) usage('--suite and --no-suite contradict each other');
  return o;
}

const opts = parseOptions(process.argv.slice(2));
const runId = `bench-${process.pid}`;
const figures = new Figures();
let seq = 0;

async function runtimes(): Promise<Runtime[]> {
  const out: Runtime[] = [];
  if (opts.runtimes.includes('process')) out.push(new ProcessRuntime());
  if (opts.runtimes.includes('docker')) {
    const docker = await import('../lib/docker/docker-runtime.ts');
    const problem = await docker.dockerUnavailable();
    if (problem) console.log(`docker runtime skipped: ${problem}`);
    else out.push(new docker.DockerRuntime());
  }
  return out;
}

async function withStack<T>(
  rt: Runtime,
  build: (b: StackSpecBuilder) => StackSpecBuilder,
  fn: (s: Stack, startMs: number) => Promise<T>,
): Promise<T> {
  const t0 = performance.now();
  const stack = await Stack.start(build(new StackSpecBuilder()).build(), rt, { runId, stackId: `b${++seq}` });
  const startMs = performance.now() - t0;
  try {
    return await fn(stack, startMs);
  } finally {
    await stack.stop();
  }
}

/**
 * Wall time of one run of the acceptance suite. Its progress (stderr) is shown as it runs; a run that does
 * not pass is a failed sample, with the suite's closing line as the reason.
 */
function suiteWallMs(runtime: string, args: string[], reportsDir: string): number {
  const t0 = performance.now();
  const r = spawnSync('bash', ['run-integration-tests.sh', '--runtime', runtime, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, RBEE_REPORTS_DIR: reportsDir },
  });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  if (r.status !== 0) {
    const last = r.stdout.trim().split('\n').at(-1) ?? '';
    throw new Error(`suite exit ${r.status ?? r.signal}${last ? `: ${last}` : ''} (reports in ${reportsDir})`);
  }
  return ms;
}

async function processStartCpu(): Promise<void> {
  console.log(`process start (CPU time of one start, user + sys, ${opts.startRuns} runs each)`);
  const probe = await startCpuProbe();
  try {
    const variants = [probe.nodeOnly, probe.tsx, probe.bundled, probe.harness].filter(
      (v): v is StartCommand => !('error' in v),
    );
    for (const v of variants) {
      try {
        probe.measure(v); // warm-up: tsx's transform cache, the page cache
      } catch {
        // the measured runs record it
      }
    }
    const n = opts.startRuns;
    const node = figures.record(
      START_NODE,
      'host',
      'ms CPU',
      await sample(n, async () => probe.measure(probe.nodeOnly)),
    );
    figures.record(START_TSX, 'host', 'ms CPU', await sample(n, async () => probe.measure(probe.tsx)), node);
    for (const [what, v] of [
      [START_BUNDLE, probe.bundled],
      [START_HARNESS, probe.harness],
    ] as const) {
      figures.record(
        what,
        'host',
        'ms CPU',
        'error' in v
          ? { values: [], failures: Array<string>(n).fill(v.error) }
          : await sample(n, async () => probe.measure(v)),
        node,
      );
    }
  } finally {
    probe.cleanup();
  }
}

async function perRuntime(rt: Runtime): Promise<void> {
  console.log(`${rt.name} runtime`);
  try {
    await withStack(
      rt,
      (b) => b.hives(1, 0),
      async () => 0,
    ); // warm-up (image build/cache, bundles)
  } catch (e) {
    console.log(`  warm-up failed: ${reasonOf(e)}`);
  }
  const few = Math.max(2, Math.floor(opts.runs / 2));
  figures.record(
    HEALTHY_STACK,
    rt.name,
    'ms',
    await sample(opts.runs, () =>
      withStack(
        rt,
        (b) => b,
        async (_s, ms) => ms,
      ),
    ),
  );
  for (const n of [1, 4, 16]) {
    figures.record(
      n === 16 ? SIXTEEN_WORKERS : `bring up ${n} worker(s)`,
      rt.name,
      'ms',
      await sample(few, () =>
        withStack(
          rt,
          (b) => b.hives(1, 0).hiveEnv({ RBEE_MAX_WORKERS: '16' }),
          async (s) => {
            const t0 = performance.now();
            await s.spawnWorkers('hive-a', n, s.spec.hives[0]!.model, 60_000);
            return performance.now() - t0;
          },
        ),
      ),
    );
  }
  figures.record(
    'crash detection (kill → worker.crashed)',
    rt.name,
    'ms',
    await sample(opts.runs, () =>
      withStack(
        rt,
        (b) => b,
        async (s) => {
          const [w] = await s.hive('hive-a').workers();
          if (!w) throw new Error('the default stack has no worker to crash');
          const fault = await new Nemesis(s).crashWorker('hive-a', w.worker_id);
          const line = await eventually(
            () => {
              const l = s.logs('hive-a').find((x) => x.event === 'worker.crashed');
              if (!l) throw new Error('no worker.crashed yet');
              return l;
            },
            { within: 10_000, every: 10, what: 'worker.crashed' },
          );
          return Date.parse(line.ts) - fault.appliedAt;
        },
      ),
    ),
  );
  if (rt.name === 'docker') {
    figures.record(
      'partition detection (queen: unavailable)',
      rt.name,
      'ms',
      await sample(few, () =>
        withStack(
          rt,
          (b) => b.hives(1, 0),
          async (s) => {
            const nemesis = new Nemesis(s);
            const fault = await nemesis.partition('queen', 'hive-a');
            try {
              await eventually(
                async () => {
                  const r = await s.queen.hives();
                  if (r.json.nodes[0]?.status !== 'unavailable') throw new Error('still available');
                },
                { within: 20_000, every: 25, what: 'hive-a unavailable' },
              );
              return Date.now() - fault.appliedAt;
            } finally {
              await nemesis.healAll();
            }
          },
        ),
      ),
    );
  }
  if (opts.smoke) {
    figures.record(
      'smoke suite wall time',
      rt.name,
      'ms',
      await sample(1, async () => suiteWallMs(rt.name, ['--profile', 'smoke'], `reports/bench-${rt.name}`)),
    );
  }
  if (opts.suite) {
    const serial = figures.record(
      PR_SUITE_SERIAL,
      rt.name,
      'ms',
      await sample(1, async () => suiteWallMs(rt.name, ['--parallel', '1'], `reports/bench-${rt.name}-serial`)),
    );
    const parallel = figures.record(
      PR_SUITE,
      rt.name,
      'ms',
      await sample(1, async () => suiteWallMs(rt.name, [], `reports/bench-${rt.name}-parallel`)),
    );
    const [a, b] = [stats(serial.values), stats(parallel.values)];
    if (a && b)
      console.log(
        `  PR suite ${rt.name}: serial ${(a.median / 1000).toFixed(1)} s, default parallelism ${(b.median / 1000).toFixed(1)} s (${(a.median / b.median).toFixed(2)}× faster)`,
      );
  }
}

/**
 * `.ci/run` takes most of the bench's own budget again (a clean install, both runtimes), so the bench does
 * not run it: it reads what the last `.ci/run` on this machine recorded (reports/ci-run.json).
 */
function lastCiRun(): void {
  const file = path.join(ROOT, 'reports', 'ci-run.json');
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      wallMs: number;
      status: number;
      summary: string;
      endedAt: string;
    };
    const failures = r.status === 0 ? [] : [`exit ${r.status}: ${r.summary}`];
    figures.record(CI_RUN, 'host', 'ms', { values: [r.wallMs], failures });
    console.log(`    (ended ${r.endedAt}: ${r.summary})`);
  } catch {
    figures.record(CI_RUN, 'host', 'ms', {
      values: [],
      failures: [`no .ci/run recorded on this machine (${path.relative(ROOT, file)}): run bash .ci/run`],
    });
  }
}

registerRun(runId);
try {
  console.log(
    `machine: ${os.cpus().length} cpus, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, node ${process.version}`,
  );
  lastCiRun();
  await processStartCpu();
  for (const rt of await runtimes()) await perRuntime(rt);
} finally {
  unregisterRun(runId);
}

console.log(`\n${figures.table()}`);
