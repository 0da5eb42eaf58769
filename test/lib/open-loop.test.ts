import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { QueenClient, type TaskRequest } from '../../lib/clients/rbee.ts';
import { runOpenLoop, startOpenLoop, formatOpenLoopReport } from '../../lib/workload/open-loop.ts';
import { History } from '../../lib/workload/history.ts';
import { latenciesOf, formatLatencies } from '../../lib/workload/latency.ts';

// A tiny fake queen on 127.0.0.1: the prompt says how to answer.
//   ok · slow:<ms> (answer held back) · refuse (503 NO_CAPACITY) · error (retryable error event)
//   cut (tokens, then the socket is destroyed) · hang (narration, then nothing)
interface Arrival {
  at: number;
  correlationId: string;
  prompt: string;
}

async function fakeQueen(): Promise<{ url: string; arrivals: Arrival[]; answered: number[]; close(): Promise<void> }> {
  const arrivals: Arrival[] = [];
  const answered: number[] = []; // arrivals.length at the moment each answer went out
  let jobNo = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const task = JSON.parse(body) as TaskRequest;
      const cid = String(req.headers['x-correlation-id'] ?? '');
      arrivals.push({ at: performance.now(), correlationId: cid, prompt: task.prompt });
      const id = `job-${jobNo++}`;
      const send = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
      const answer = () => {
        answered.push(arrivals.length);
        if (task.prompt === 'refuse') {
          res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', 'x-correlation-id': cid });
          res.end(
            JSON.stringify({
              error: {
                code: 'NO_CAPACITY',
                message: 'busy',
                retryable: true,
                retry_after_ms: 250,
                correlation_id: cid,
              },
            }),
          );
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'x-correlation-id': cid });
        send({
          type: 'narration',
          actor: 'queen-rbee',
          action: 'dispatch',
          job_id: id,
          node_name: 'hive-a',
          worker_id: 'w-1',
          correlation_id: cid,
        });
        if (task.prompt === 'hang') return;
        send({ type: 'started', job_id: id });
        for (let i = 0; i < 3; i++) send({ type: 'token', t: ` w${i}`, i });
        if (task.prompt === 'cut') {
          // Cut after what was written has left (headers included), as a crash mid-stream does.
          res.write(': flush\n\n', () => res.destroy());
          return;
        }
        if (task.prompt === 'error')
          send({ type: 'error', code: 'WORKER_CRASHED', message: 'gone', retryable: true, job_id: id });
        else send({ type: 'end', tokens_out: 3, stop_reason: 'MAX_TOKENS' });
        res.end('data: [DONE]\n\n');
      };
      const slow = /^slow:(\d+)$/.exec(task.prompt);
      if (slow) setTimeout(answer, Number(slow[1]));
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    answered,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const task = (prompt: string): TaskRequest => ({ model: 'm', prompt, max_tokens: 3 });

test('arrivals stay on schedule while every answer is held back (no coordinated omission)', async () => {
  const q = await fakeQueen();
  try {
    const { history, report } = await runOpenLoop({
      queen: new QueenClient(q.url),
      task: () => task('slow:1500'),
      ratePerSec: 20,
      maxJobs: 100,
      durationMs: 1000,
      drainMs: 20_000,
      correlationPrefix: 'sched',
    });
    assert.equal(report.planned, 20);
    assert.equal(report.submitted, 20);
    assert.equal(report.stoppedBy, 'duration');
    // A closed loop would have sent one job and waited 1.5 s; the open loop sent all 20 before the first answer.
    assert.equal(q.arrivals.length, 20);
    assert.ok((q.answered[0] ?? 0) >= 19, `only ${q.answered[0]} jobs had arrived when the first answer went out`);
    const span = q.arrivals.at(-1)!.at - q.arrivals[0]!.at;
    assert.ok(span >= 800 && span < 1450, `20 arrivals at 20/s spread over ${span.toFixed(0)} ms (expected about 950)`);
    assert.deepEqual(
      history.entries.map((e) => e.scheduledAtMs),
      Array.from({ length: 20 }, (_, k) => k * 50),
    );
    assert.ok(report.lagMs.max < 400, `submission lag up to ${report.lagMs.max} ms`);
    assert.ok(report.achievedRatePerSec > 15 && report.achievedRatePerSec <= 20.01, formatOpenLoopReport(report));
    assert.equal(report.outcomes.end, 20);
    for (const e of history.entries)
      assert.ok(e.durations.admissionMs! >= 1400, `job #${e.id} admitted after ${e.durations.admissionMs} ms`);
  } finally {
    await q.close();
  }
});

test('the count bound holds', async () => {
  const q = await fakeQueen();
  try {
    const { report } = await runOpenLoop({
      queen: new QueenClient(q.url),
      task: () => task('ok'),
      ratePerSec: 200,
      maxJobs: 5,
      durationMs: 10_000,
      drainMs: 10_000,
    });
    assert.equal(report.submitted, 5);
    assert.equal(report.stoppedBy, 'count');
    assert.equal(q.arrivals.length, 5);
  } finally {
    await q.close();
  }
});

test('the duration bound holds', async () => {
  const q = await fakeQueen();
  try {
    const t0 = performance.now();
    const { report } = await runOpenLoop({
      queen: new QueenClient(q.url),
      task: () => task('ok'),
      ratePerSec: 50,
      maxJobs: 1000,
      durationMs: 200,
      drainMs: 10_000,
    });
    assert.equal(report.planned, 10);
    assert.equal(report.submitted, 10);
    assert.equal(report.stoppedBy, 'duration');
    assert.ok(performance.now() - t0 < 5000);
  } finally {
    await q.close();
  }
});

test('every outcome is recorded with its details; a job still open at the drain bound stays pending', async () => {
  const q = await fakeQueen();
  const prompts = ['ok', 'refuse', 'error', 'cut', 'hang'];
  try {
    const ended: number[] = [];
    const { history, report } = await runOpenLoop({
      queen: new QueenClient(q.url),
      task: (k) => task(prompts[k]!),
      ratePerSec: 50,
      maxJobs: prompts.length,
      durationMs: 10_000,
      drainMs: 1500,
      correlationPrefix: 'mix',
      onJobEnd: (e) => ended.push(e.id),
    });
    const [ok, refused, error, cut, hang] = history.entries;
    assert.deepEqual(
      history.entries.map((e) => e.outcome),
      ['end', 'refused', 'error', 'cut', 'pending'],
    );
    assert.deepEqual(
      history.entries.map((e) => e.correlationId),
      ['mix-0', 'mix-1', 'mix-2', 'mix-3', 'mix-4'],
    );
    assert.deepEqual(q.arrivals.map((a) => a.correlationId).sort(), ['mix-0', 'mix-1', 'mix-2', 'mix-3', 'mix-4']);

    assert.equal(ok!.admission?.status, 200);
    assert.equal(ok!.admission?.correlationIdEcho, 'mix-0');
    assert.deepEqual(
      { ...ok!.dispatch, atMs: 0 },
      { node_name: 'hive-a', worker_id: 'w-1', job_id: ok!.dispatch!.job_id, atMs: 0 },
    );
    assert.deepEqual(ok!.end, { stopReason: 'MAX_TOKENS', tokensOut: 3 });
    assert.equal(ok!.events.filter((e) => e.type === 'token').length, 3);
    assert.ok(
      ok!.durations.admissionMs! <= ok!.durations.firstTokenMs! &&
        ok!.durations.firstTokenMs! <= ok!.durations.totalMs!,
    );
    assert.equal(ok!.stream?.done, true);

    assert.equal(refused!.admission?.status, 503);
    assert.deepEqual(refused!.failure, { code: 'NO_CAPACITY', message: 'busy', retryable: true });
    assert.equal(refused!.admission?.retryAfterMs, 250);

    assert.deepEqual(error!.failure, { code: 'WORKER_CRASHED', message: 'gone', retryable: true });
    assert.equal(cut!.stream?.done, false);
    assert.equal(cut!.failure, undefined);

    assert.equal(hang!.outcome, 'pending');
    assert.match(hang!.abandoned ?? '', /still open 1500 ms/);
    assert.equal(report.drained, false);
    assert.equal(report.abandoned, 1);
    assert.deepEqual(ended.sort(), [0, 1, 2, 3]);

    // The history survives a round trip through JSON.
    const again = History.fromJSON(JSON.stringify(history));
    assert.deepEqual(again.entries, history.entries);
    assert.match(formatLatencies(latenciesOf(history)), /admission \(time to first byte\): n=5/);
  } finally {
    await q.close();
  }
});

test('no answer at all is a refusal with status 0', async () => {
  const q = await fakeQueen();
  const url = q.url;
  await q.close();
  const { history } = await runOpenLoop({
    queen: new QueenClient(url),
    task: () => task('ok'),
    ratePerSec: 10,
    maxJobs: 1,
    durationMs: 1000,
    drainMs: 10_000,
  });
  const [e] = history.entries;
  assert.equal(e!.outcome, 'refused');
  assert.equal(e!.admission?.status, 0);
  assert.equal(e!.failure?.code, 'NO_ANSWER');
});

test('stop() ends the submissions early; the jobs already sent still drain', async () => {
  const q = await fakeQueen();
  try {
    const run = startOpenLoop({
      queen: new QueenClient(q.url),
      task: () => task('ok'),
      ratePerSec: 20,
      maxJobs: 1000,
      durationMs: 60_000,
      drainMs: 10_000,
    });
    // Stop after the third job has been recorded (a condition, not a sleep).
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (run.history.entries.length >= 3) {
          clearInterval(check);
          run.stop();
          resolve();
        }
      }, 5);
    });
    const { report } = await run.done;
    assert.equal(report.stoppedBy, 'signal');
    assert.ok(report.submitted >= 3 && report.submitted < 10, `submitted ${report.submitted}`);
    assert.equal(report.outcomes.end, report.submitted);
  } finally {
    await q.close();
  }
});
