// Live progress of a cucumber run, so a run is never silent while it runs: counts scenarios as their
// final attempt finishes, estimates the time left from the mean scenario duration and the parallelism,
// and words the lines the progress formatter prints. It reads the same message envelopes cucumber writes
// to messages.ndjson (structurally typed here, so lib/ needs no cucumber import) and does no I/O itself.

import { FAILING, STATUS_RANK, type StepStatus } from './run-model.ts';

interface Timestamp {
  seconds: number;
  nanos: number;
}

/** The parts of a cucumber message envelope the progress needs. */
export interface ProgressEnvelope {
  testRunStarted?: { timestamp: Timestamp };
  pickle?: {
    id: string;
    name: string;
    uri: string;
    tags: ReadonlyArray<{ name: string }>;
    location?: { line: number };
    steps: ReadonlyArray<{ id: string; text: string }>;
  };
  testCase?: {
    id: string;
    pickleId: string;
    testSteps: ReadonlyArray<{ id: string; pickleStepId?: string; hookId?: string }>;
  };
  testCaseStarted?: { id: string; testCaseId: string; attempt: number; timestamp: Timestamp; workerId?: string };
  testStepFinished?: {
    testCaseStartedId: string;
    testStepId: string;
    testStepResult: { status: string; message?: string; exception?: { type: string; message?: string } };
  };
  attachment?: { testCaseStartedId?: string; body: string; mediaType: string; contentEncoding: string };
  testCaseFinished?: { testCaseStartedId: string; timestamp: Timestamp; willBeRetried: boolean };
  testRunFinished?: { timestamp?: Timestamp };
}

export type ProgressVerdict = 'passed' | 'failed' | 'skipped';

/** One finished attempt: final (it counts) or one that will be retried. */
export interface FinishedAttempt {
  /** FULL-001, or the scenario name when it has no ID tag. */
  label: string;
  /** features/full-stack/jobs.feature:12 */
  where: string;
  verdict: ProgressVerdict;
  /** The worst step status (FAILED, UNDEFINED …). */
  status: StepStatus;
  durationMs: number;
  /** 0 for the first run. */
  attempt: number;
  willBeRetried: boolean;
  /** First line of why it failed, or of why it was skipped. */
  reason?: string;
}

export interface ProgressSnapshot {
  total: number;
  done: number;
  passed: number;
  failed: number;
  skipped: number;
  running: number;
  elapsedMs: number;
  /** Undefined until a scenario has finished. */
  etaMs?: number;
  parallel: number;
  /** The running attempts, longest-running first. */
  runningNow: Array<{ label: string; forMs: number }>;
}

export const SCENARIO_ID_RE = /^@((?:FULL|INT|PAT|FAULT|SELF|CHAOS)-\d+)$/;

/** `@FULL-001` → `FULL-001`; a scenario without an ID tag is named by its name. */
export function scenarioLabel(tags: readonly string[], name: string): string {
  for (const t of tags) {
    const m = SCENARIO_ID_RE.exec(t);
    if (m) return m[1]!;
  }
  return name;
}

const toMs = (t: Timestamp) => t.seconds * 1000 + Math.round(t.nanos / 1e6);
const firstLine = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '') ?? '';

const MAX_REASON = 300;

/**
 * The first line of a step's error. The exception's own message is preferred: cucumber's formatted message
 * of a chai failure starts with a bare "AssertionError" and a diff.
 */
function errorLine(r: { message?: string; exception?: { type: string; message?: string } }): string | undefined {
  const own = r.exception?.message ? firstLine(r.exception.message) : '';
  let line = own;
  if (own) {
    const type = r.exception!.type.replace(/^_+/, '');
    if (type && !own.startsWith(type)) line = `${type}: ${own}`;
  } else if (r.message) line = firstLine(r.message);
  if (!line) return undefined;
  return line.length > MAX_REASON ? line.slice(0, MAX_REASON - 1) + '…' : line;
}

interface Running {
  id: string;
  testCaseId: string;
  pickleId: string;
  attempt: number;
  startedAt: number;
  worst?: { status: StepStatus; reason?: string };
  skipReason?: string;
}

export class RunProgress {
  private readonly pickles = new Map<
    string,
    { label: string; line?: number; where: string; steps: Map<string, string> }
  >();
  /** How many planned scenarios carry each label (an outline's examples, several scenarios under one ID). */
  private readonly labelCount = new Map<string, number>();
  private readonly testCases = new Map<string, { pickleId: string; stepText: Map<string, string> }>();
  private readonly planned = new Set<string>();
  private readonly running = new Map<string, Running>();
  private readonly finalized = new Set<string>();
  private readonly workers = new Set<string>();
  private readonly durations: number[] = [];
  private maxConcurrent = 0;
  private startedAt?: number;
  private counts = { passed: 0, failed: 0, skipped: 0 };

  /** `parallel`: the number of cucumber workers when known (--parallel N); what is observed can raise it. */
  constructor(private readonly opts: { parallel?: number; startedAt?: number } = {}) {
    this.startedAt = opts.startedAt;
  }

  /** Feed one envelope; returns the attempt it finished, if it finished one. */
  handle(e: ProgressEnvelope): FinishedAttempt | undefined {
    if (e.testRunStarted) this.startedAt = toMs(e.testRunStarted.timestamp);
    else if (e.pickle) {
      const p = e.pickle;
      const label = scenarioLabel(
        p.tags.map((t) => t.name),
        p.name,
      );
      this.pickles.set(p.id, {
        label,
        ...(p.location ? { line: p.location.line } : {}),
        where: p.location ? `${p.uri}:${p.location.line}` : p.uri,
        steps: new Map(p.steps.map((s) => [s.id, s.text])),
      });
    } else if (e.testCase) {
      const tc = e.testCase;
      const steps = this.pickles.get(tc.pickleId)?.steps;
      const stepText = new Map<string, string>();
      for (const s of tc.testSteps)
        stepText.set(s.id, s.pickleStepId ? `"${steps?.get(s.pickleStepId) ?? '?'}"` : 'hook');
      this.testCases.set(tc.id, { pickleId: tc.pickleId, stepText });
      // Cucumber sends a pickle for every scenario it parsed; only those with a test case will run.
      const label = this.pickles.get(tc.pickleId)?.label;
      if (label !== undefined && !this.planned.has(tc.pickleId))
        this.labelCount.set(label, (this.labelCount.get(label) ?? 0) + 1);
      this.planned.add(tc.pickleId);
    } else if (e.testCaseStarted) {
      const s = e.testCaseStarted;
      const pickleId = this.testCases.get(s.testCaseId)?.pickleId ?? s.testCaseId;
      this.running.set(s.id, {
        id: s.id,
        testCaseId: s.testCaseId,
        pickleId,
        attempt: s.attempt ?? 0,
        startedAt: toMs(s.timestamp),
      });
      if (s.workerId !== undefined) this.workers.add(s.workerId);
      this.maxConcurrent = Math.max(this.maxConcurrent, this.running.size);
    } else if (e.testStepFinished) {
      const f = e.testStepFinished;
      const r = this.running.get(f.testCaseStartedId);
      if (!r) return undefined;
      const status = (STATUS_RANK as readonly string[]).includes(f.testStepResult.status)
        ? (f.testStepResult.status as StepStatus)
        : 'UNKNOWN';
      if (!r.worst || STATUS_RANK.indexOf(status) > STATUS_RANK.indexOf(r.worst.status)) {
        const text = this.testCases.get(r.testCaseId)?.stepText.get(f.testStepId) ?? 'step';
        const reason =
          errorLine(f.testStepResult) ??
          (FAILING.has(status) ? `${status.toLowerCase()} ${text === 'hook' ? 'hook' : `step ${text}`}` : undefined);
        r.worst = { status, ...(reason ? { reason } : {}) };
      }
    } else if (e.attachment) {
      const a = e.attachment;
      const r = a.testCaseStartedId ? this.running.get(a.testCaseStartedId) : undefined;
      if (r && a.contentEncoding !== 'BASE64' && a.mediaType === 'text/plain' && a.body.startsWith('skipped:'))
        r.skipReason = firstLine(a.body);
    } else if (e.testCaseFinished) {
      const f = e.testCaseFinished;
      const r = this.running.get(f.testCaseStartedId);
      if (!r) return undefined;
      this.running.delete(r.id);
      const durationMs = Math.max(0, toMs(f.timestamp) - r.startedAt);
      this.durations.push(durationMs);
      const status = r.worst?.status ?? 'PASSED';
      const verdict: ProgressVerdict = FAILING.has(status) ? 'failed' : status === 'SKIPPED' ? 'skipped' : 'passed';
      const willBeRetried = !!f.willBeRetried;
      if (!willBeRetried) {
        this.finalized.add(r.pickleId);
        this.counts[verdict]++;
      }
      const reason = verdict === 'failed' ? r.worst?.reason : verdict === 'skipped' ? r.skipReason : undefined;
      return {
        label: this.label(r.pickleId),
        where: this.pickles.get(r.pickleId)?.where ?? '?',
        verdict,
        status,
        durationMs,
        attempt: r.attempt,
        willBeRetried,
        ...(reason ? { reason } : {}),
      };
    }
    return undefined;
  }

  /** `FULL-001`; `FULL-009:20` (its line) when several scenarios or examples share the ID. */
  private label(pickleId: string): string {
    const p = this.pickles.get(pickleId);
    if (!p) return pickleId;
    return (this.labelCount.get(p.label) ?? 0) > 1 && p.line !== undefined ? `${p.label}:${p.line}` : p.label;
  }

  /** How many scenarios run at once: the configured workers, or what has been seen running together. */
  get parallel(): number {
    return Math.max(1, this.opts.parallel ?? 0, this.workers.size, this.maxConcurrent);
  }

  get started(): boolean {
    return this.startedAt !== undefined;
  }

  snapshot(now: number): ProgressSnapshot {
    const total = Math.max(this.planned.size, this.finalized.size);
    const runningFor = [...this.running.values()]
      .map((r) => ({ label: this.label(r.pickleId), forMs: Math.max(0, now - r.startedAt) }))
      .sort((a, b) => b.forMs - a.forMs);
    const runningPickles = new Set([...this.running.values()].map((r) => r.pickleId));
    const notStarted = Math.max(0, total - this.finalized.size - runningPickles.size);
    const meanMs = this.durations.length
      ? this.durations.reduce((a, b) => a + b, 0) / this.durations.length
      : undefined;
    const etaMs = estimateRemainingMs({
      notStarted,
      runningForMs: runningFor.map((r) => r.forMs),
      parallel: this.parallel,
      ...(meanMs !== undefined ? { meanMs } : {}),
    });
    return {
      total,
      done: this.finalized.size,
      ...this.counts,
      running: this.running.size,
      elapsedMs: this.startedAt !== undefined ? Math.max(0, now - this.startedAt) : 0,
      ...(etaMs !== undefined ? { etaMs } : {}),
      parallel: this.parallel,
      runningNow: runningFor,
    };
  }
}

/**
 * Time left: the scenarios not started yet each take the mean duration, a running one takes what is left of
 * the mean (none once it has run longer), and `parallel` of them run at once. Nothing left → 0; nothing
 * finished yet (no mean) → undefined.
 */
export function estimateRemainingMs(o: {
  notStarted: number;
  runningForMs: readonly number[];
  meanMs?: number;
  parallel: number;
}): number | undefined {
  if (o.notStarted === 0 && o.runningForMs.length === 0) return 0;
  if (o.meanMs === undefined) return undefined;
  const mean = o.meanMs;
  const leftOfRunning = o.runningForMs.map((r) => Math.max(0, mean - r));
  const work = o.notStarted * mean + leftOfRunning.reduce((a, b) => a + b, 0);
  return Math.max(work / Math.max(1, o.parallel), ...leftOfRunning);
}

/** 1234 ms → "1.2s", 65 s → "1m05s", 3725 s → "1h02m". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

const counts = (s: ProgressSnapshot) => `${s.passed} passed ${s.failed} failed ${s.skipped} skipped`;
const clip = (line: string, width?: number) =>
  width && width > 1 && line.length > width - 1 ? line.slice(0, width - 2) + '…' : line;

/**
 * The live line on a terminal, rewritten in place:
 * `[3/10] 2 passed 1 failed 0 skipped · 2 running · 1m05s elapsed · ~2m10s left`. Clipped to `width` so
 * it never wraps (a wrapped line cannot be rewritten with a carriage return). Its words are ordered so it
 * never looks like the run's closing `N passed, N failed, N skipped` line.
 */
export function liveLine(s: ProgressSnapshot, width?: number): string {
  const eta =
    s.done === s.total && s.running === 0
      ? 'done'
      : s.etaMs === undefined
        ? 'time left unknown'
        : `~${formatDuration(s.etaMs)} left`;
  return clip(
    `[${s.done}/${s.total}] ${counts(s)} · ${s.running} running · ${formatDuration(s.elapsedMs)} elapsed · ${eta}`,
    width,
  );
}

/** Where the run stands, between scenario lines (also the heartbeat of a quiet run in CI). */
export function statusLine(s: ProgressSnapshot, width?: number): string {
  const running = s.runningNow
    .slice(0, 4)
    .map((r) => `${r.label} (${formatDuration(r.forMs)})`)
    .join(', ');
  const more = s.runningNow.length > 4 ? ` and ${s.runningNow.length - 4} more` : '';
  const eta = s.etaMs === undefined ? '' : ` · ~${formatDuration(s.etaMs)} left`;
  const what = running
    ? ` · running: ${running}${more}`
    : s.done === 0
      ? ' · waiting for the first scenario to start'
      : '';
  return clip(`[${s.done}/${s.total}] ${formatDuration(s.elapsedMs)} elapsed${eta}${what}`, width);
}

/**
 * One finished scenario (CI, a pipe): `[3/10] FULL-001 passed 12.3s`. A failure adds its file:line and the
 * first line of its error; an attempt that will be retried says so and is not counted.
 */
export function scenarioLines(f: FinishedAttempt, s: ProgressSnapshot): string[] {
  const n = `[${s.done}/${s.total}]`;
  const attempt = f.attempt > 0 ? ` (attempt ${f.attempt + 1})` : '';
  if (f.willBeRetried)
    return [
      `${n} ${f.label} ${f.verdict}${attempt}, will be retried ${formatDuration(f.durationMs)} ${f.where}: ${f.reason ?? f.status.toLowerCase()}`,
    ];
  const verdict = f.verdict === 'failed' ? 'FAILED' : f.verdict;
  const head = `${n} ${f.label} ${verdict}${attempt} ${formatDuration(f.durationMs)}`;
  if (f.verdict === 'failed') return [`${head} ${f.where}`, `    ${f.reason ?? f.status.toLowerCase()}`];
  if (f.verdict === 'skipped' && f.reason) return [`${head}: ${f.reason}`];
  return [head];
}

/** Printed on a terminal above the live line: only what needs attention (failures, retries). */
export function needsAttention(f: FinishedAttempt): boolean {
  return f.willBeRetried || f.verdict === 'failed';
}

/** The last progress line: `progress: 10 scenarios in 1m05s (2 at a time)`. */
export function finalLine(s: ProgressSnapshot): string {
  return `progress: ${s.done}/${s.total} scenarios in ${formatDuration(s.elapsedMs)} (${s.parallel} at a time): ${counts(s)}`;
}
