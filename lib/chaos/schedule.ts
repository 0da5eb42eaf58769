// Fault schedules drawn from a seed. A chaos run is reproducible only if its faults are: the seed, the
// menu of fault kinds and the topology fully determine the schedule, and scheduleJson() writes it byte
// for byte the same, so a failure can be replayed (RBEE_SEED) and shrunk (shrink.ts) to the faults that
// matter. Randomness comes from fast-check's seeded generator; nothing here reads the clock.
//
// Placement rules (documented in drawSchedule):
// - faults start after a lead-in and every fault heals before the run's quiet tail begins, so the stack
//   has time to converge after the last heal;
// - a kind whose menu entry says `overlaps: false` never overlaps any other fault (of any kind);
// - two overlapping-kind faults may overlap in time only when they touch different things: not the same
//   worker, and not a hive together with that hive or one of its workers (a paused worker inside a
//   crashed hive tells nothing about either);
// - conflicting faults are kept `gapMs` apart, so each fault's effect can be told from the next one's.

import { randomInt } from 'node:crypto';
import fc from 'fast-check';
import { z } from 'zod';

export const FAULT_KINDS = [
  'crash-worker',
  'pause-worker',
  'crash-hive',
  'restart-hive',
  'restart-queen',
  'pause-hive',
  'partition-queen-hive',
  'partition-hive-worker',
  'slow-link',
  'corrupt-catalog',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What each kind does (for reports and the README). */
export const FAULT_DESCRIPTIONS: Record<FaultKind, string> = {
  'crash-worker': 'SIGKILL a worker process; at the end of its window a replacement is made (or the hive restarted it)',
  'pause-worker': 'SIGSTOP a worker for the window, then SIGCONT',
  'crash-hive': 'SIGKILL a hive; it is started again at the end of the window',
  'restart-hive': 'kill and restart a hive at once; the window is time reserved for its recovery',
  'restart-queen': 'kill and restart the queen at once; the window is time reserved for its recovery',
  'pause-hive': 'SIGSTOP (container freeze) a hive for the window',
  'partition-queen-hive': 'traffic between the queen and a hive stops for the window (both ways)',
  'partition-hive-worker': 'traffic between a hive and one of its workers stops for the window',
  'slow-link': 'latency on one direction of the queen ↔ hive link for the window (link proxy)',
  'corrupt-catalog': "overwrite a hive's SQLite file (registry and catalog) with garbage; data loss is not healed",
};

export interface MenuEntry {
  kind: FaultKind;
  /** May this kind overlap other faults in time (on other targets)? */
  overlaps: boolean;
  minDurationMs: number;
  maxDurationMs: number;
  /** slow-link only: the latency added, drawn in this range (ms). */
  latencyMs?: { min: number; max: number };
}

/** Defaults sized for the harness's fast timings (hive timeout 2 s, worker heartbeat timeout 1.5 s). */
export const DEFAULT_MENU: Readonly<Record<FaultKind, MenuEntry>> = {
  'crash-worker': { kind: 'crash-worker', overlaps: true, minDurationMs: 1000, maxDurationMs: 4000 },
  'pause-worker': { kind: 'pause-worker', overlaps: true, minDurationMs: 500, maxDurationMs: 3000 },
  'crash-hive': { kind: 'crash-hive', overlaps: true, minDurationMs: 1000, maxDurationMs: 3000 },
  'restart-hive': { kind: 'restart-hive', overlaps: true, minDurationMs: 2000, maxDurationMs: 4000 },
  'restart-queen': { kind: 'restart-queen', overlaps: false, minDurationMs: 2000, maxDurationMs: 4000 },
  'pause-hive': { kind: 'pause-hive', overlaps: true, minDurationMs: 500, maxDurationMs: 3000 },
  'partition-queen-hive': { kind: 'partition-queen-hive', overlaps: true, minDurationMs: 1000, maxDurationMs: 4000 },
  'partition-hive-worker': { kind: 'partition-hive-worker', overlaps: true, minDurationMs: 1000, maxDurationMs: 4000 },
  'slow-link': {
    kind: 'slow-link',
    overlaps: true,
    minDurationMs: 1000,
    maxDurationMs: 4000,
    latencyMs: { min: 50, max: 500 },
  },
  'corrupt-catalog': { kind: 'corrupt-catalog', overlaps: false, minDurationMs: 2000, maxDurationMs: 4000 },
};

/** A menu item: a kind with its default entry, or an entry overriding some defaults. */
export type MenuItem = FaultKind | (Partial<MenuEntry> & { kind: FaultKind });

const WORKER_KINDS: ReadonlySet<FaultKind> = new Set(['crash-worker', 'pause-worker', 'partition-hive-worker']);
const HIVE_KINDS: ReadonlySet<FaultKind> = new Set([
  'crash-hive',
  'restart-hive',
  'pause-hive',
  'partition-queen-hive',
  'slow-link',
  'corrupt-catalog',
]);

export interface Topology {
  hives: Array<{ name: string; workers: string[] }>;
}

/** What a fault acts on: a worker (hive + worker), a hive, the queen (service), or a link (from → to, on hive). */
export interface FaultTarget {
  hive?: string;
  worker?: string;
  service?: string;
  from?: string;
  to?: string;
}

export interface ScheduledFault {
  /** Its number in the schedule it was drawn in (sorted by start); kept when shrinking, so a shrunk schedule names the same faults. */
  index: number;
  kind: FaultKind;
  target: FaultTarget;
  /** Offset from the run's start. */
  startMs: number;
  durationMs: number;
  params?: { latencyMs?: number };
}

export interface FaultSchedule {
  version: 1;
  seed: number;
  menu: MenuEntry[];
  topology: Topology;
  runMs: number;
  leadInMs: number;
  quietTailMs: number;
  gapMs: number;
  requested: { faults?: number; perMinute?: number };
  faults: ScheduledFault[];
  /** Kinds left out or faults that found no room, each with the reason (never silent). */
  notes: string[];
}

export interface DrawOptions {
  seed: number;
  menu: readonly MenuItem[];
  topology: Topology;
  /** Length of the whole run (workload) in ms. */
  runMs: number;
  /** How many faults to draw … */
  faults?: number;
  /** … or how many per minute of the fault window (one of the two). */
  perMinute?: number;
  /** No fault starts before this (default 10% of the run, 0.5–10 s). */
  leadInMs?: number;
  /** Every fault has healed this long before the run ends (default 25% of the run, 2–30 s). */
  quietTailMs?: number;
  /** Separation between faults that must not overlap (default 1000 ms). */
  gapMs?: number;
}

/** Normalise a menu: defaults filled in, each kind once, durations sane. */
export function menuOf(items: readonly MenuItem[]): MenuEntry[] {
  const seen = new Set<FaultKind>();
  return items.map((item) => {
    const kind = typeof item === 'string' ? item : item.kind;
    if (!(FAULT_KINDS as readonly string[]).includes(kind))
      throw new Error(`unknown fault kind "${kind}"; known: ${FAULT_KINDS.join(', ')}`);
    if (seen.has(kind)) throw new Error(`fault kind "${kind}" is on the menu twice`);
    seen.add(kind);
    const entry: MenuEntry = { ...DEFAULT_MENU[kind], ...(typeof item === 'string' ? {} : item) };
    if (!(entry.minDurationMs > 0 && entry.maxDurationMs >= entry.minDurationMs)) {
      throw new Error(
        `menu entry ${kind}: durations must satisfy 0 < min ≤ max (got ${entry.minDurationMs}–${entry.maxDurationMs} ms)`,
      );
    }
    if (kind !== 'slow-link') delete entry.latencyMs;
    else if (entry.latencyMs && !(entry.latencyMs.min >= 0 && entry.latencyMs.max >= entry.latencyMs.min)) {
      throw new Error(
        `menu entry slow-link: latency must satisfy 0 ≤ min ≤ max (got ${entry.latencyMs.min}–${entry.latencyMs.max} ms)`,
      );
    }
    return entry;
  });
}

/**
 * Keep the kinds the runtime can inject. `supported(kind)` returns undefined when it can, else the
 * reason it cannot; every dropped kind comes back with its reason (and a note line), never silently.
 */
export function dropUnsupported(
  menu: readonly MenuItem[],
  supported: (kind: FaultKind) => string | undefined,
): { menu: MenuEntry[]; dropped: Array<{ kind: FaultKind; reason: string }>; notes: string[] } {
  const kept: MenuEntry[] = [];
  const dropped: Array<{ kind: FaultKind; reason: string }> = [];
  for (const entry of menuOf(menu)) {
    const reason = supported(entry.kind);
    if (reason === undefined) kept.push(entry);
    else dropped.push({ kind: entry.kind, reason });
  }
  return { menu: kept, dropped, notes: dropped.map((d) => `dropped ${d.kind}: ${d.reason}`) };
}

/** `RBEE_SEED` when set (a whole number 0 … 2^31−1), else a fresh one (`drawn: true`, print it!). */
export function resolveSeed(env: Record<string, string | undefined> = process.env): { seed: number; drawn: boolean } {
  const raw = env.RBEE_SEED?.trim();
  if (raw) {
    if (!/^\d+$/.test(raw) || Number(raw) > 0x7fffffff)
      throw new Error(`RBEE_SEED must be a whole number from 0 to 2147483647, got "${env.RBEE_SEED}"`);
    return { seed: Number(raw), drawn: false };
  }
  return { seed: randomInt(0, 0x7fffffff), drawn: true };
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const MAX_PLACEMENT_ATTEMPTS = 25;

/**
 * Draw a schedule. For each of the N faults: a kind uniformly from the menu (kinds the topology gives no
 * target are left out, with a note), a target uniformly among the topology's candidates, a duration in
 * the kind's range (capped to the fault window), and a start so that the fault lies inside
 * [leadIn, runMs − quietTail]. A draw that would break a placement rule (see the file's head) is drawn
 * again, up to 25 times; a fault that still finds no room is left out with a note. Faults are then
 * sorted by start and numbered. Same inputs, same schedule.
 */
export function drawSchedule(o: DrawOptions): FaultSchedule {
  if (!Number.isInteger(o.seed)) throw new Error(`seed must be a whole number, got ${o.seed}`);
  if (!(o.runMs > 0)) throw new Error(`runMs must be > 0, got ${o.runMs}`);
  const topology = normaliseTopology(o.topology);
  const leadInMs = Math.round(o.leadInMs ?? clamp(o.runMs * 0.1, 500, 10_000));
  const quietTailMs = Math.round(o.quietTailMs ?? clamp(o.runMs * 0.25, 2000, 30_000));
  const gapMs = Math.round(o.gapMs ?? 1000);
  const windowEnd = o.runMs - quietTailMs;
  if (windowEnd <= leadInMs)
    throw new Error(
      `no room for faults: run ${o.runMs} ms minus lead-in ${leadInMs} ms and quiet tail ${quietTailMs} ms leaves nothing`,
    );
  const windowMs = windowEnd - leadInMs;
  if ((o.faults === undefined) === (o.perMinute === undefined))
    throw new Error('give either a fault count (faults) or a density (perMinute)');
  const count = o.faults ?? Math.round(((o.perMinute ?? 0) * windowMs) / 60_000);
  if (!Number.isInteger(count) || count < 0) throw new Error(`fault count must be a whole number ≥ 0, got ${count}`);

  const menu = menuOf(o.menu);
  const notes: string[] = [];
  const drawable = menu.filter((m) => {
    const why = noTargetReason(m.kind, topology);
    if (why) notes.push(`left out ${m.kind}: ${why}`);
    return !why;
  });
  if (count > 0 && !drawable.length) notes.push(`no fault drawn: nothing on the menu has a target in this topology`);

  const placed: Array<Omit<ScheduledFault, 'index'>> = [];
  if (drawable.length) {
    const g = fc.sample(fc.noBias(fc.gen()), { seed: o.seed, numRuns: 1 })[0]!;
    const int = (min: number, max: number) => (max <= min ? min : g(fc.integer, { min, max }));
    const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)]!;
    for (let i = 0; i < count; i++) {
      let done = false;
      for (let attempt = 0; attempt < MAX_PLACEMENT_ATTEMPTS && !done; attempt++) {
        const entry = pick(drawable);
        const durationMs = int(Math.min(entry.minDurationMs, windowMs), Math.min(entry.maxDurationMs, windowMs));
        const startMs = int(leadInMs, windowEnd - durationMs);
        const target = drawTarget(entry.kind, topology, pick);
        const params =
          entry.kind === 'slow-link' && entry.latencyMs
            ? { latencyMs: int(entry.latencyMs.min, entry.latencyMs.max) }
            : undefined;
        const candidate = { kind: entry.kind, target, startMs, durationMs, ...(params ? { params } : {}) };
        if (placed.some((p) => conflicts(p, candidate, menu, gapMs))) continue;
        placed.push(candidate);
        done = true;
      }
      if (!done)
        notes.push(
          `fault ${i + 1} of ${count}: no room found in ${MAX_PLACEMENT_ATTEMPTS} draws without breaking the overlap rules`,
        );
    }
  }
  placed.sort(
    (a, b) =>
      a.startMs - b.startMs ||
      a.kind.localeCompare(b.kind) ||
      targetLabel(a.target).localeCompare(targetLabel(b.target)),
  );
  return {
    version: 1,
    seed: o.seed,
    menu,
    topology,
    runMs: o.runMs,
    leadInMs,
    quietTailMs,
    gapMs,
    requested: o.faults !== undefined ? { faults: o.faults } : { perMinute: o.perMinute! },
    faults: placed.map((p, index) => ({ index, ...p })),
    notes,
  };
}

function normaliseTopology(t: Topology): Topology {
  const names = t.hives.map((h) => h.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`topology names hive "${dup}" twice`);
  if (names.includes('queen')) throw new Error('a hive cannot be called "queen"');
  return { hives: t.hives.map((h) => ({ name: h.name, workers: [...h.workers] })) };
}

function noTargetReason(kind: FaultKind, t: Topology): string | undefined {
  if (WORKER_KINDS.has(kind) && !t.hives.some((h) => h.workers.length)) return 'the topology has no worker';
  if (HIVE_KINDS.has(kind) && !t.hives.length) return 'the topology has no hive';
  return undefined;
}

function drawTarget(kind: FaultKind, t: Topology, pick: <T>(xs: readonly T[]) => T): FaultTarget {
  if (kind === 'restart-queen') return { service: 'queen' };
  if (WORKER_KINDS.has(kind)) {
    const hive = pick(t.hives.filter((h) => h.workers.length));
    return { hive: hive.name, worker: pick(hive.workers) };
  }
  const hive = pick(t.hives).name;
  if (kind === 'slow-link')
    return pick([0, 1]) === 0 ? { hive, from: 'queen', to: hive } : { hive, from: hive, to: 'queen' };
  return { hive };
}

/** Do two faults break a placement rule if both are kept? */
export function conflicts(
  a: Pick<ScheduledFault, 'kind' | 'target' | 'startMs' | 'durationMs'>,
  b: Pick<ScheduledFault, 'kind' | 'target' | 'startMs' | 'durationMs'>,
  menu: readonly MenuEntry[],
  gapMs: number,
): boolean {
  const near = a.startMs < b.startMs + b.durationMs + gapMs && b.startMs < a.startMs + a.durationMs + gapMs;
  if (!near) return false;
  const overlaps = (k: FaultKind) => menu.find((m) => m.kind === k)?.overlaps ?? DEFAULT_MENU[k].overlaps;
  if (!overlaps(a.kind) || !overlaps(b.kind)) return true;
  if (a.target.service === 'queen' || b.target.service === 'queen') return true;
  if (!a.target.hive || a.target.hive !== b.target.hive) return false;
  // Same hive: fine only for two different workers of it.
  return !(a.target.worker && b.target.worker && a.target.worker !== b.target.worker);
}

/** "worker w-1 on hive-a", "hive-a", "queen", "queen → hive-a". */
export function targetLabel(t: FaultTarget): string {
  if (t.from && t.to) return `${t.from} → ${t.to}`;
  if (t.worker) return `worker ${t.worker} on ${t.hive}`;
  return t.hive ?? t.service ?? '?';
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** "#2 pause-worker worker w-1 on hive-a at +3.2 s for 1.5 s" */
export function describeFault(f: ScheduledFault): string {
  const params = f.params?.latencyMs !== undefined ? ` (+${f.params.latencyMs} ms)` : '';
  return `#${f.index} ${f.kind} ${targetLabel(f.target)}${params} at +${secs(f.startMs)} for ${secs(f.durationMs)}`;
}

/** A readable summary: seed, sizes, one line per fault, then the notes. */
export function formatSchedule(s: FaultSchedule): string {
  return [
    `seed ${s.seed}: ${s.faults.length} fault(s) over ${secs(s.runMs)} (lead-in ${secs(s.leadInMs)}, quiet tail ${secs(s.quietTailMs)}); menu: ${s.menu.map((m) => m.kind).join(', ') || '(empty)'}`,
    ...s.faults.map((f) => `  ${describeFault(f)}`),
    ...s.notes.map((n) => `  note: ${n}`),
  ].join('\n');
}

/** JSON with every object's keys sorted and undefined left out: the same value always gives the same bytes. */
export function canonicalJson(value: unknown, indent = 2): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

/** The schedule as written to reports/chaos/<ID>.schedule.json: canonical JSON and a final newline. */
export function scheduleJson(s: FaultSchedule): string {
  return `${canonicalJson(s)}\n`;
}

const kindSchema = z.enum(FAULT_KINDS);
const targetSchema = z
  .object({
    hive: z.string().optional(),
    worker: z.string().optional(),
    service: z.string().optional(),
    from: z.string().optional(),
    to: z.string().optional(),
  })
  .strict();
const scheduleSchema = z
  .object({
    version: z.literal(1),
    seed: z.number().int(),
    menu: z.array(
      z
        .object({
          kind: kindSchema,
          overlaps: z.boolean(),
          minDurationMs: z.number().positive(),
          maxDurationMs: z.number().positive(),
          latencyMs: z
            .object({ min: z.number().int().min(0), max: z.number().int().min(0) })
            .strict()
            .optional(),
        })
        .strict(),
    ),
    topology: z
      .object({ hives: z.array(z.object({ name: z.string(), workers: z.array(z.string()) }).strict()) })
      .strict(),
    runMs: z.number().positive(),
    leadInMs: z.number().min(0),
    quietTailMs: z.number().min(0),
    gapMs: z.number().min(0),
    requested: z
      .object({ faults: z.number().int().min(0).optional(), perMinute: z.number().min(0).optional() })
      .strict(),
    faults: z.array(
      z
        .object({
          index: z.number().int().min(0),
          kind: kindSchema,
          target: targetSchema,
          startMs: z.number().min(0),
          durationMs: z.number().positive(),
          params: z
            .object({ latencyMs: z.number().int().min(0).optional() })
            .strict()
            .optional(),
        })
        .strict(),
    ),
    notes: z.array(z.string()),
  })
  .strict();

/** Read a saved schedule (a replay, or a shrunk schedule); throws one line per problem. */
export function parseSchedule(text: string): FaultSchedule {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`not a fault schedule: ${(e as Error).message}`);
  }
  const r = scheduleSchema.safeParse(json);
  if (!r.success)
    throw new Error(
      `not a fault schedule: ${r.error.issues.map((i) => `${i.path.join('.') || '(schedule)'}: ${i.message}`).join('; ')}`,
    );
  return r.data as FaultSchedule;
}

/** The same schedule with only these faults (each keeping its index) — what the shrinker tries. */
export function withFaults(s: FaultSchedule, faults: readonly ScheduledFault[]): FaultSchedule {
  return {
    ...s,
    faults: faults.map((f) => ({ ...f, target: { ...f.target }, ...(f.params ? { params: { ...f.params } } : {}) })),
  };
}
