import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { QueenClient, TaskRequest, WorkerInfo } from '../../lib/clients/rbee.ts';
import type { HttpResponse, StreamResponse } from '../../lib/clients/http.ts';
import { parseSseText, type SseEvent } from '../../lib/clients/sse.ts';
import { parseMetrics } from '../../lib/clients/metrics.ts';
import { History } from '../../lib/workload/history.ts';
import { formatSteadyLoad, jobsNotCompleted, runClosedLoop, runSteadyLoad } from '../../lib/workload/steady-load.ts';
import { healthLatency, onlyWorker, runSoak, soakRssTrend, type SoakStack } from '../../lib/workload/soak.ts';
import { MIB } from '../../lib/observe/trend.ts';
import { loadPictures, timeSeriesSvg } from '../../lib/report/load-pictures.ts';

/** A queen object (no HTTP): each job streams its max_tokens tokens after `holdMs`; prompts containing "refuse" get a 503. */
function fakeQueen(holdMs = 0): QueenClient & { submitted: number; busy: number; mostBusy: number } {
  let n = 0;
  const q = {
    submitted: 0,
    busy: 0,
    mostBusy: 0,
    async submitTask(
      task: TaskRequest,
      o?: { headers?: Record<string, string>; onEvent?: (e: SseEvent) => void },
    ): Promise<StreamResponse> {
      q.submitted++;
      const cid = o?.headers?.['x-correlation-id'] ?? '';
      if (task.prompt.includes('refuse')) {
        const json = { error: { code: 'NO_CAPACITY', retryable: true } };
        return {
          status: 503,
          headers: {},
          error: { status: 503, headers: {}, text: JSON.stringify(json), json, ms: 1 },
          result: Promise.resolve({ events: [], done: false, malformed: [], endMs: 1 }),
          abort: () => {},
        };
      }
      q.busy++;
      q.mostBusy = Math.max(q.mostBusy, q.busy);
      const id = `j-${n++}`;
      const body =
        `data: {"type":"narration","actor":"queen-rbee","job_id":"${id}","worker_id":"w-1","node_name":"hive-a"}\n\n` +
        Array.from({ length: task.max_tokens }, (_, i) => `data: {"type":"token","t":"x","i":${i}}\n\n`).join('') +
        `data: {"type":"end","tokens_out":${task.max_tokens},"stop_reason":"MAX_TOKENS"}\n\ndata: [DONE]\n\n`;
      const parsed = await parseSseText(body);
      const result = new Promise<typeof parsed>((resolve) =>
        setTimeout(() => {
          for (const e of parsed.events) o?.onEvent?.(e);
          q.busy--;
          resolve({ ...parsed, firstByteMs: 1 });
        }, holdMs),
      );
      return {
        status: 200,
        headers: { 'content-type': 'text/event-stream', 'x-correlation-id': cid },
        result,
        abort: () => {},
      };
    },
    async health(): Promise<HttpResponse> {
      return { status: 200, headers: {}, text: '{}', json: {}, ms: 1 };
    },
  };
  return Object.assign(q, { inference: q.submitTask }) as unknown as QueenClient & typeof q;
}

test('runSteadyLoad: an open loop at the rate, every job recorded and summarised', async () => {
  const queen = fakeQueen(5);
  const run = await runSteadyLoad({
    queen,
    ratePerSec: 100,
    durationMs: 200,
    model: 'm',
    maxTokens: 2,
    prefix: 'INT-014',
  });
  assert.equal(run.report.submitted, 20);
  assert.equal(run.history.entries.length, 20);
  assert.deepEqual(jobsNotCompleted(run.history), []);
  assert.equal(run.latencies.admission.count, 20);
  assert.match(run.history.entries[0]!.correlationId, /^INT-014-[0-9a-f]{6}-0$/);
  assert.match(formatSteadyLoad(run), /^open loop: 20\/20 jobs at .*\nadmission \(time to first byte\): n=20/);
});

test('runClosedLoop keeps one job at a time going until the duration has passed', async () => {
  const queen = fakeQueen(10);
  const t0 = Date.now();
  const h = await runClosedLoop({
    queen,
    durationMs: 120,
    task: (k) => ({ model: 'm', prompt: `p${k}`, max_tokens: 3 }),
    prefix: 'soak',
  });
  assert.ok(Date.now() - t0 >= 120);
  assert.ok(h.entries.length >= 5 && h.entries.length <= 13, `${h.entries.length} jobs`);
  assert.equal(queen.mostBusy, 1, 'one job at a time');
  assert.deepEqual(
    h.entries.map((e) => e.outcome),
    h.entries.map(() => 'end'),
  );
  assert.deepEqual(
    h.entries.map((e) => e.id),
    h.entries.map((_, i) => i),
  );
});

test('runClosedLoop: a client whose job got no answer stops; a job open past its bound is aborted and recorded pending', async () => {
  const down = {
    submitTask: async () => {
      throw new Error('connect ECONNREFUSED');
    },
  } as unknown as QueenClient;
  const h = await runClosedLoop({
    queen: down,
    durationMs: 5000,
    task: () => ({ model: 'm', prompt: 'p', max_tokens: 1 }),
    prefix: 'x',
  });
  assert.equal(h.entries.length, 1);
  assert.equal(h.entries[0]!.failure?.code, 'NO_ANSWER');
  const slow = fakeQueen(200);
  const h2 = await runClosedLoop({
    queen: slow,
    durationMs: 10,
    jobBoundMs: 30,
    task: () => ({ model: 'm', prompt: 'p', max_tokens: 1 }),
    prefix: 'x',
  });
  assert.equal(h2.entries[0]!.outcome, 'pending');
  assert.match(h2.entries[0]!.abandoned ?? '', /still open after 30 ms/);
});

test('jobsNotCompleted groups what did not end by how, naming a few jobs', () => {
  const h = new History();
  for (let i = 0; i < 7; i++) {
    const e = h.recordSubmitted({ correlationId: `c${i}`, request: { model: 'm', max_tokens: 1 } });
    if (i < 2)
      (h.recordAnswer(e, { status: 200, headers: {} }, 1),
        h.recordEvent(e, { type: 'end', tokens_out: 1 }, 2),
        h.recordStreamEnd(e, { done: true, malformed: [] }, 3));
    else if (i < 6)
      h.recordAnswer(
        e,
        {
          status: 503,
          headers: {},
          error: { status: 503, headers: {}, text: '', json: { error: { code: 'NO_CAPACITY' } }, ms: 1 },
        },
        1,
      );
    else h.recordAbandoned(e, 'gave up');
  }
  assert.deepEqual(jobsNotCompleted(h, 2), [
    '4 refused NO_CAPACITY (503): job #2 (c2); job #3 (c3); … 2 more',
    '1 timed out (never ended): job #6 (c6)',
  ]);
});

/** One hive, one worker whose RSS rises by 1 MiB per read; health answers. */
function soakStack(queen: QueenClient, workers = 1): SoakStack & { reads: number } {
  const s = {
    reads: 0,
    queen,
    hiveNames: ['hive-a'],
    hive: () => ({
      workers: async () =>
        Array.from(
          { length: workers },
          (_, i) => ({ worker_id: `w-${i + 1}`, url: `http://w-${i + 1}` }) as WorkerInfo,
        ),
    }),
    worker: () => ({
      metrics: async () => {
        const text = `process_resident_memory_bytes ${(50 + s.reads++) * MIB}\n`;
        return { samples: parseMetrics(text), text };
      },
      health: async (): Promise<HttpResponse> => ({ status: 200, headers: {}, text: '{}', json: {}, ms: 1 }),
    }),
  };
  return s;
}

test('runSoak runs jobs on the only worker while memory and health are sampled; the trend and percentiles come from the samples', async () => {
  const stack = soakStack(fakeQueen(5));
  const run = await runSoak({
    stack,
    durationMs: 150,
    model: 'm',
    maxTokens: 2,
    prefix: 'INT-015',
    rssEveryMs: 10,
    healthEveryMs: 10,
  });
  assert.equal(run.worker.worker_id, 'w-1');
  assert.ok(run.history.entries.length >= 3);
  assert.ok(run.rss.length >= 5, `${run.rss.length} memory samples`);
  assert.ok(run.health.queen.length >= 5 && run.health.worker.length >= 5);
  const trend = soakRssTrend(run, 0);
  assert.ok(trend.perMinute > 0, 'rising 1 MiB a sample');
  assert.ok(soakRssTrend(run, 60_000).n === 0, 'a warm-up longer than the run leaves nothing');
  const lat = healthLatency(run.health.worker);
  assert.equal(lat.failed, 0);
  assert.equal(lat.count, run.health.worker.length);
  await assert.rejects(onlyWorker(soakStack(fakeQueen(), 2)), /exactly one worker; it has 2: w-1, w-2/);
});

test('healthLatency counts failures apart from the latency', () => {
  const lat = healthLatency([
    { at: 0, ms: 4, value: 200 },
    { at: 1, ms: 6, value: 200 },
    { at: 2, ms: 900, error: '/health answered 500' },
  ]);
  assert.equal(lat.count, 2);
  assert.equal(lat.failed, 1);
  assert.ok(lat.max < 10);
});

test('pictures: jobs over time and histograms of a load run; a series with its trend line', async () => {
  const run = await runSteadyLoad({
    queen: fakeQueen(1),
    ratePerSec: 100,
    durationMs: 100,
    model: 'm',
    maxTokens: 1,
    prefix: 'p',
  });
  const pics = loadPictures(run.history, { origin: run.report.startedAt, end: run.report.endedAt });
  assert.deepEqual(
    pics.map((p) => p.fileName),
    ['jobs-over-time.svg', 'latency-admission.svg', 'latency-total.svg'],
  );
  for (const p of pics) assert.match(p.svg, /^<svg [^>]*>.*<\/svg>$/s);
  const pts = Array.from({ length: 30 }, (_, i) => ({ at: 1000 * i, value: (80 + i / 10) * MIB }));
  const svg = timeSeriesSvg(pts, {
    title: 'Worker RSS',
    unit: 'MiB',
    scale: MIB,
    trend: {
      n: 30,
      perMinute: 6 * MIB,
      fittedStart: 80 * MIB,
      fittedEnd: 82.9 * MIB,
      from: 0,
      spanMs: 29_000,
      min: 80 * MIB,
      max: 82.9 * MIB,
    },
    warmUpUntil: 5000,
  });
  assert.match(svg, /30 samples over 29 s/);
  assert.match(svg, /trend \+6\.00 MiB\/min/);
  assert.match(svg, /warm-up \(not in the trend\)/);
  assert.match(timeSeriesSvg([], { title: 't', unit: 'u' }), /no samples/);
});
