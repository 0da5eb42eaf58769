import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkHistory,
  countsByLabel,
  countsDelta,
  deadWorkersFromLogs,
  formatAnomalies,
  jobSpansFromLogs,
  queenOutcomeOf,
  summarizeAnomalies,
  uncheckedKinds,
  type Anomaly,
  type AnomalyKind,
  type HistoryEvidence,
} from '../../lib/checks/history.ts';
import { History, type HistoryEntry } from '../../lib/workload/history.ts';
import type { LogLine } from '../../lib/observe/logs.ts';
import { parseMetrics } from '../../lib/clients/metrics.ts';

const T0 = Date.parse('2025-01-01T00:00:00.000Z');

interface JobShape {
  at?: number; // ms after T0
  max?: number;
  worker?: string;
  tokens?: number[];
  end?: { tokens_out?: number; stop_reason?: string } | false;
  error?: { code: string; retryable?: boolean };
  refuse?: { status: number; code?: string; retryable?: boolean };
  cut?: boolean;
  /** With `cut`: the connection broke (the client saw a transport error) rather than ending cleanly. */
  transportError?: string;
  pending?: 'accepted' | 'unanswered';
  totalMs?: number;
}

/** A job recorded the way the open loop records it. */
function job(h: History, s: JobShape = {}): HistoryEntry {
  const id = h.entries.length;
  const e = h.recordSubmitted({
    correlationId: `cid-${id}`,
    request: { model: 'm', max_tokens: s.max ?? 3 },
    submittedAt: T0 + (s.at ?? id * 100),
  });
  if (s.pending === 'unanswered') return e;
  if (s.refuse) {
    const body = {
      error: {
        code: s.refuse.code ?? `HTTP_${s.refuse.status}`,
        message: 'no',
        ...(s.refuse.retryable !== undefined ? { retryable: s.refuse.retryable } : {}),
      },
    };
    h.recordAnswer(
      e,
      {
        status: s.refuse.status,
        headers: {},
        error: { status: s.refuse.status, headers: {}, text: JSON.stringify(body), json: body, ms: 5 },
      },
      5,
    );
    return e;
  }
  h.recordAnswer(e, { status: 200, headers: { 'x-correlation-id': e.correlationId } }, 5);
  h.recordEvent(
    e,
    { type: 'narration', actor: 'queen-rbee', job_id: `job-${id}`, worker_id: s.worker ?? 'w-1', node_name: 'hive-a' },
    6,
  );
  h.recordEvent(e, { type: 'started', job_id: `job-${id}` }, 7);
  const tokens = s.tokens ?? [0, 1, 2];
  tokens.forEach((i, k) => h.recordEvent(e, { type: 'token', t: ` t${i}`, i }, 10 + k));
  if (s.pending) return e;
  if (s.error) h.recordEvent(e, { type: 'error', message: 'x', ...s.error }, 40);
  else if (s.end !== false && !s.cut)
    h.recordEvent(e, { type: 'end', tokens_out: tokens.length, stop_reason: 'MAX_TOKENS', ...(s.end ?? {}) }, 40);
  h.recordStreamEnd(
    e,
    { done: !s.cut, malformed: [], ...(s.transportError ? { transportError: s.transportError } : {}) },
    s.totalMs ?? 50,
  );
  return e;
}

const kinds = (as: Anomaly[]) => as.map((a) => a.kind);
const only = (as: Anomaly[], kind: AnomalyKind) => as.filter((a) => a.kind === kind);

test('a clean history with consistent evidence has no anomalies', () => {
  const h = new History();
  job(h, { worker: 'w-1' });
  job(h, { worker: 'w-2' });
  job(h, { refuse: { status: 503, code: 'NO_CAPACITY', retryable: true } });
  const evidence: HistoryEvidence = {
    faults: [{ kind: 'pause-worker', target: 'w-1', start: T0, end: T0 + 1000 }],
    jobSpans: [
      { worker: 'w-1', jobId: 'job-0', start: T0 + 6, end: T0 + 40 },
      { worker: 'w-2', jobId: 'job-1', start: T0 + 106, end: T0 + 140 },
    ],
    deadWorkers: [],
    hiveListings: [
      { hive: 'hive-a', sentAt: T0 + 60, receivedAt: T0 + 62, workers: [{ worker_id: 'w-1', state: 'idle' }] },
    ],
    queenJobsByOutcome: { completed: 2, rejected: 1, failed: 0, cancelled: 0 },
    workerJobCounts: { 'w-1': 1, 'w-2': 1 },
    convergence: { lastHealAt: T0 + 1000, convergedAt: T0 + 1500, boundMs: 5000 },
  };
  assert.deepEqual(checkHistory(h, evidence), []);
  assert.deepEqual(
    uncheckedKinds(evidence).map((u) => u.kind),
    ['failed-without-fault'],
  );
});

test('lost: accepted and never terminated, or never answered', () => {
  const h = new History();
  job(h);
  const accepted = job(h, { pending: 'accepted' });
  h.recordAbandoned(accepted, 'still open 30000 ms after the last submission');
  job(h, { pending: 'unanswered' });
  const lost = only(checkHistory(h), 'lost');
  assert.deepEqual(
    lost.map((a) => a.jobs),
    [[1], [2]],
  );
  assert.match(
    lost[0]!.detail,
    /accepted \(200\) and never terminated: 5 event\(s\), last token \(still open 30000 ms/,
  );
  assert.match(lost[1]!.detail, /the queen never answered/);
});

test('silent-truncation: a stream cut with neither end nor error', () => {
  const h = new History();
  job(h, { cut: true, tokens: [0, 1] });
  job(h, { error: { code: 'WORKER_CRASHED', retryable: true } });
  const a = checkHistory(h);
  assert.deepEqual(kinds(a), ['silent-truncation']);
  assert.deepEqual(a[0]!.jobs, [0]);
  assert.match(a[0]!.detail, /closed without an end or error event after narration, started, token×2/);
});

test('silent-truncation spares a connection broken while the queen itself was restarted, never a clean cut', () => {
  const h = new History();
  job(h, { at: 0, cut: true, transportError: 'other side closed' }); // broke at T0+50, the queen restarting
  job(h, { at: 10, cut: true }); // ended cleanly at T0+60 while the queen restarted: still silent truncation
  job(h, { at: 5000, cut: true, transportError: 'other side closed' }); // broke with no queen restart near
  const restart = { index: 0, kind: 'restart-queen', target: 'queen', start: T0 + 20, end: T0 + 400 };
  const a = checkHistory(h, { faults: [restart] } as HistoryEvidence);
  assert.deepEqual(
    only(a, 'silent-truncation').map((x) => x.jobs),
    [[1], [2]],
  );
});

test('tokens-out-of-order: swapped, skipped, or fewer than end.tokens_out', () => {
  const h = new History();
  job(h, { tokens: [0, 2, 1] });
  job(h, { tokens: [0, 1, 3], max: 5 });
  job(h, { tokens: [0, 1], end: { tokens_out: 3 } });
  job(h, { tokens: [0, 1, 2] });
  const a = only(checkHistory(h), 'tokens-out-of-order');
  assert.deepEqual(
    a.map((x) => x.jobs[0]),
    [0, 1, 2],
  );
  assert.match(a[0]!.detail, /token #1 has i=2 \(indices 0,2,1\)/);
  assert.match(a[2]!.detail, /end.tokens_out=3 but only 2 token\(s\) arrived/);
});

test('tokens-duplicated: an index seen twice (and not out of order because of it)', () => {
  const h = new History();
  job(h, { tokens: [0, 1, 1, 2], max: 5, end: { tokens_out: 3 } });
  const a = checkHistory(h);
  assert.deepEqual(kinds(a), ['tokens-duplicated']);
  assert.match(a[0]!.detail, /token i=1 ×2/);
});

test('tokens-over-max: more tokens than max_tokens', () => {
  const h = new History();
  job(h, { tokens: [0, 1, 2, 3], max: 3 });
  job(h, { tokens: [0, 1], max: 3, end: { tokens_out: 2 } });
  const a = only(checkHistory(h), 'tokens-over-max');
  assert.deepEqual(
    a.map((x) => x.jobs),
    [[0]],
  );
  assert.match(a[0]!.detail, /4 token event\(s\), end.tokens_out=4, max_tokens 3/);
});

test("ran-on-two-workers: one job id in two workers' spans", () => {
  const h = new History();
  job(h, { worker: 'w-1' });
  const a = checkHistory(h, {
    jobSpans: [
      { worker: 'w-1', jobId: 'job-0', start: T0, end: T0 + 50 },
      { worker: 'w-2', jobId: 'job-0', start: T0 + 10, end: T0 + 60 },
      { worker: 'w-3', jobId: 'job-warmup', start: T0, end: T0 + 10 },
    ],
  });
  assert.deepEqual(kinds(a), ['ran-on-two-workers']);
  assert.deepEqual(a[0]!.jobs, [0]);
  assert.match(a[0]!.detail, /was started on w-1 and w-2/);
});

test('concurrent-on-worker: overlapping spans on one worker, per its slots; back-to-back is fine; a crash closes a span', () => {
  const h = new History();
  job(h);
  job(h);
  job(h);
  const spans = [
    { worker: 'w-1', jobId: 'job-0', start: T0, end: T0 + 100 },
    { worker: 'w-1', jobId: 'job-1', start: T0 + 50, end: T0 + 150 },
    { worker: 'w-1', jobId: 'job-2', start: T0 + 150, end: T0 + 200 },
  ];
  const a = checkHistory(h, { jobSpans: spans });
  assert.deepEqual(kinds(a), ['concurrent-on-worker']);
  assert.deepEqual(a[0]!.jobs, [0, 1]);
  assert.match(
    a[0]!.detail,
    /w-1 \(1 slot\): job job-1 started at 00:00:00.050 while job-0 \(00:00:00.000–00:00:00.100\) still ran/,
  );
  assert.deepEqual(checkHistory(h, { jobSpans: spans }, { slotsPerWorker: 2 }), []);
  // job-0 never logged an end (the worker was killed); after its restart job-1 runs: not concurrent.
  const crashed = [
    { worker: 'w-1', jobId: 'job-0', start: T0 },
    { worker: 'w-1', jobId: 'job-1', start: T0 + 500, end: T0 + 600 },
  ];
  assert.deepEqual(
    only(
      checkHistory(h, { jobSpans: crashed, deadWorkers: [{ worker: 'w-1', deadAt: T0 + 100, revivedAt: T0 + 400 }] }),
      'concurrent-on-worker',
    ),
    [],
  );
  assert.deepEqual(kinds(checkHistory(h, { jobSpans: crashed })), ['concurrent-on-worker']);
});

test('idle-while-running: a hive listing a worker idle while its own log shows a job running, beyond the margin', () => {
  const h = new History();
  job(h);
  job(h);
  const spans = [
    { worker: 'w-1', jobId: 'job-0', start: T0, end: T0 + 3000 },
    { worker: 'w-2', jobId: 'job-1', start: T0, end: T0 + 3000 },
  ];
  const listing = (at: number, states: Record<string, string>) => ({
    hive: 'hive-a',
    sentAt: T0 + at,
    receivedAt: T0 + at + 20,
    workers: Object.entries(states).map(([worker_id, state]) => ({ worker_id, state })),
  });
  const hiveListings = [
    listing(1000, { 'w-1': 'idle', 'w-2': 'busy' }), // w-1 runs job-0 from 0 to 3000: flagged
    listing(1500, { 'w-1': 'idle', 'w-2': 'busy' }), // the same job again: named once
    listing(200, { 'w-2': 'idle' }), // job-1 started 200 ms before: within the margin (start and acquire race)
    listing(2700, { 'w-2': 'idle' }), // job-1 ends 280 ms after: within the margin (release races the end)
  ];
  const a = checkHistory(h, { jobSpans: spans, hiveListings });
  assert.deepEqual(kinds(a), ['idle-while-running']);
  assert.deepEqual(a[0]!.jobs, [0]);
  assert.match(
    a[0]!.detail,
    /hive-a listed w-1 idle at 00:00:01.000–00:00:01.020 while it ran job job-0 \(00:00:00.000–00:00:03.000/,
  );
  assert.deepEqual(only(checkHistory(h, { jobSpans: spans }), 'idle-while-running'), []);
  assert.ok(
    uncheckedKinds({ jobSpans: spans }).some((u) => u.kind === 'idle-while-running' && u.missing === 'hiveListings'),
  );
});

test('fault-error-not-retryable: fault-caused failures must be retryable', () => {
  const h = new History();
  const fault = { kind: 'crash-worker', target: 'worker w-1 on hive-a', start: T0 + 1000, end: T0 + 2000 };
  job(h, { at: 1500, error: { code: 'WORKER_CRASHED', retryable: false } }); // 0: in the window, not retryable
  job(h, { at: 1500, error: { code: 'INTERNAL_ERROR' } }); // 1: in the window, no flag
  job(h, { at: 1500, error: { code: 'WORKER_CRASHED', retryable: true } }); // 2: fine
  job(h, { at: 1500, refuse: { status: 400, code: 'VALIDATION_FAILED', retryable: false } }); // 3: the request's fault
  job(h, { at: 1500, refuse: { status: 503, code: 'HIVE_UNAVAILABLE', retryable: true } }); // 4: fine
  job(h, { at: 9000, error: { code: 'INTERNAL_ERROR' } }); // 5: no fault anywhere near
  job(h, { at: 9000, error: { code: 'WORKER_UNREACHABLE', retryable: false } }); // 6: a stack-failure code: retryable by contract
  job(h, { at: 5000, refuse: { status: 500, code: 'INTERNAL_ERROR' } }); // 7: 3 s after the heal: inside the default 5 s grace
  const noAnswer = h.recordSubmitted({
    correlationId: 'cid-8',
    request: { model: 'm', max_tokens: 3 },
    submittedAt: T0 + 1500,
  });
  h.recordNoAnswer(noAnswer, 'connect ECONNREFUSED', 3); // 8: no answer to judge
  const a = only(checkHistory(h, { faults: [fault] }), 'fault-error-not-retryable');
  assert.deepEqual(
    a.map((x) => x.jobs[0]),
    [0, 1, 6, 7],
  );
  assert.match(
    a[0]!.detail,
    /error event WORKER_CRASHED has retryable=false, during crash-worker worker w-1 on hive-a/,
  );
  assert.match(a[1]!.detail, /INTERNAL_ERROR has retryable=\(absent\)/);
  assert.match(a[2]!.detail, /a WORKER_UNREACHABLE failure \(retryable by contract\)/);
  assert.match(a[3]!.detail, /refused 500 INTERNAL_ERROR/);
  assert.deepEqual(
    only(checkHistory(h, { faults: [fault] }, { faultGraceMs: 1000 }), 'fault-error-not-retryable').map(
      (x) => x.jobs[0],
    ),
    [0, 1, 6],
  );
});

test('failed-without-fault (opt-in): a failure while no fault was active', () => {
  const h = new History();
  job(h, { at: 1500, error: { code: 'WORKER_CRASHED', retryable: true } });
  job(h, { at: 20_000, refuse: { status: 503, code: 'NO_CAPACITY', retryable: true } });
  job(h, { at: 20_000, refuse: { status: 422, code: 'INVALID_REQUEST' } });
  const faults = [{ kind: 'crash-worker', target: 'w-1', start: T0 + 1000, end: T0 + 2000 }];
  assert.deepEqual(only(checkHistory(h, { faults }), 'failed-without-fault'), []);
  const a = only(checkHistory(h, { faults }, { flagFailuresOutsideFaults: true }), 'failed-without-fault');
  assert.deepEqual(
    a.map((x) => x.jobs),
    [[1]],
  );
  assert.match(a[0]!.detail, /refused NO_CAPACITY while no fault was active/);
});

test('routed-to-dead-worker: submitted after the hive reported the worker dead, dispatched before it was back', () => {
  const h = new History();
  job(h, { at: 500, worker: 'w-1' }); // 0: before the death
  job(h, { at: 1200, worker: 'w-1' }); // 1: after it: anomaly
  job(h, { at: 1200, worker: 'w-2' }); // 2: another worker
  job(h, { at: 3000, worker: 'w-1' }); // 3: after it was ready again
  job(h, { at: 1050, worker: 'w-1' }); // 4: inside the routing grace
  const dead = [{ worker: 'w-1', deadAt: T0 + 1000, revivedAt: T0 + 2500 }];
  const a = checkHistory(h, { deadWorkers: dead }, { routingGraceMs: 100 });
  assert.deepEqual(kinds(a), ['routed-to-dead-worker']);
  assert.deepEqual(a[0]!.jobs, [1]);
  assert.match(a[0]!.detail, /submitted 200 ms after the hive reported w-1 dead \(ready again 1500 ms after\)/);
});

test("counters-mismatch: the queen's jobs by outcome and each worker's job count reconcile with the history", () => {
  const h = new History();
  job(h, { worker: 'w-1' }); // completed
  job(h, { worker: 'w-1', end: { stop_reason: 'CANCELLED' } }); // cancelled
  job(h, { worker: 'w-2', error: { code: 'WORKER_CRASHED', retryable: true } }); // failed
  job(h, { refuse: { status: 503, code: 'NO_CAPACITY', retryable: true } }); // rejected
  job(h, { worker: 'w-2', cut: true }); // ambiguous
  assert.deepEqual(h.entries.map(queenOutcomeOf), ['completed', 'cancelled', 'failed', 'rejected', 'ambiguous']);
  const ok = { completed: 1, cancelled: 1, failed: 2, rejected: 1 };
  const counters = (e: HistoryEvidence) => only(checkHistory(h, e), 'counters-mismatch');
  assert.deepEqual(counters({ queenJobsByOutcome: ok }), [], 'the cut job may be counted as failed');
  assert.deepEqual(counters({ queenJobsByOutcome: { ...ok, failed: 1 } }), [], 'or not counted at all');
  const fewer = counters({ queenJobsByOutcome: { ...ok, completed: 0 } });
  assert.equal(fewer.length, 1);
  assert.match(fewer[0]!.detail, /completed 0 \(history 1\).*fewer than the history for completed/);
  const more = counters({ queenJobsByOutcome: { ...ok, failed: 4 } });
  assert.match(more[0]!.detail, /3 more than the history, which allows at most 1 more/);

  assert.deepEqual(counters({ workerJobCounts: { 'w-1': 2, 'w-2': 1 } }), []);
  const extra = counters({ workerJobCounts: { 'w-1': 3 } });
  assert.match(
    extra[0]!.detail,
    /worker w-1 counted 3 job\(s\); the history dispatched 2 to it .* it ran jobs no client was told about/,
  );
  const missing = counters({ workerJobCounts: { 'w-1': 1 } });
  assert.deepEqual(missing[0]!.jobs, [0, 1]);
  assert.match(missing[0]!.detail, /jobs the client saw end were not counted/);
});

test('no-convergence: never, or later than the bound', () => {
  const h = new History();
  const never = checkHistory(h, {
    convergence: {
      lastHealAt: T0,
      boundMs: 5000,
      what: 'every hive available and every worker idle',
      lastObservation: 'hive-b unavailable',
    },
  });
  assert.deepEqual(kinds(never), ['no-convergence']);
  assert.equal(
    never[0]!.detail,
    'every hive available and every worker idle did not converge within 5000 ms after the last heal; last observation: hive-b unavailable',
  );
  const late = checkHistory(h, { convergence: { lastHealAt: T0, convergedAt: T0 + 7000, boundMs: 5000 } });
  assert.match(late[0]!.detail, /converged 7000 ms after the last heal, bound 5000 ms/);
  assert.deepEqual(checkHistory(h, { convergence: { lastHealAt: T0, convergedAt: T0 + 4000, boundMs: 5000 } }), []);
});

test('formatAnomalies: one line per anomaly naming kind, jobs (with correlation ids) and detail', () => {
  const h = new History();
  job(h, { cut: true });
  job(h, { tokens: [0, 0, 1, 2], max: 5, end: { tokens_out: 3 } });
  const a = checkHistory(h);
  const text = formatAnomalies(a, h);
  const lines = text.split('\n');
  assert.equal(lines.length, 2);
  assert.match(
    lines[0]!,
    /^silent-truncation \[jobs #0 \(cid-0\)\]: job #0 \(cid-0, job-0 on w-1@hive-a\): the stream closed/,
  );
  assert.match(lines[1]!, /^tokens-duplicated \[jobs #1 \(cid-1\)\]: .*token i=0 ×2/);
  assert.equal(formatAnomalies([]), 'no anomalies');
  assert.equal(summarizeAnomalies(a), 'silent-truncation 1, tokens-duplicated 1');
});

test('evidence from logs: spans per worker and job (queen lines ignored), deaths and revivals', () => {
  const at = (ms: number) => new Date(T0 + ms).toISOString();
  const l = (ms: number, service: string, event: string, extra: Partial<LogLine> = {}): LogLine => ({
    ts: at(ms),
    level: 'info',
    service,
    msg: event,
    event,
    ...extra,
  });
  const lines: LogLine[] = [
    l(0, 'worker', 'job.started', { worker_id: 'w-1', job_id: 'j1' }),
    l(5, 'queen', 'job.cancelled', { worker_id: 'w-1', job_id: 'j1' }),
    l(40, 'worker', 'job.finished', { worker_id: 'w-1', job_id: 'j1' }),
    l(50, 'worker', 'job.started', { worker_id: 'w-1', job_id: 'j2' }),
    l(60, 'worker', 'job.failed', { worker_id: 'w-1', job_id: 'j2' }),
    l(70, 'worker', 'job.started', { worker_id: 'w-2', job_id: 'j2' }),
    l(100, 'hive', 'worker.crashed', { worker_id: 'w-2' }),
    l(120, 'hive', 'worker.removed', { worker_id: 'w-2' }),
    l(300, 'hive', 'worker.ready', { worker_id: 'w-2' }),
    l(400, 'hive', 'worker.crashed', { worker_id: 'w-3' }),
  ];
  assert.deepEqual(jobSpansFromLogs(lines), [
    { worker: 'w-1', jobId: 'j1', start: T0, end: T0 + 40 },
    { worker: 'w-1', jobId: 'j2', start: T0 + 50, end: T0 + 60 },
    { worker: 'w-2', jobId: 'j2', start: T0 + 70 },
  ]);
  assert.deepEqual(deadWorkersFromLogs(lines), [
    { worker: 'w-2', deadAt: T0 + 100, revivedAt: T0 + 300 },
    { worker: 'w-3', deadAt: T0 + 400 },
  ]);
});

test('counter evidence from /metrics: counts by label and the delta over the workload', () => {
  const before = countsByLabel(
    parseMetrics('rbee_queen_jobs_total{outcome="completed"} 2\nrbee_queen_jobs_total{outcome="failed"} 0\n'),
    'rbee_queen_jobs_total',
    'outcome',
  );
  const after = countsByLabel(
    parseMetrics(
      'rbee_queen_jobs_total{outcome="completed"} 7\nrbee_queen_jobs_total{outcome="failed"} 1\nrbee_queen_jobs_total{outcome="rejected"} 3\nother_total 9\n',
    ),
    'rbee_queen_jobs_total',
    'outcome',
  );
  assert.deepEqual(countsDelta(after, before), { completed: 5, failed: 1, rejected: 3 });
});
