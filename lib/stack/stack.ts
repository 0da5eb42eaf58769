// A started stack, whatever the runtime: clients for each service, the workers the topology asked
// for, and the scenario's logs. Start-up = runtime.start (services healthy) + spawn the topology's
// workers through each hive's own API and wait until the hive lists them idle.

import fs from 'node:fs';
import path from 'node:path';
import { HiveClient, HubClient, QueenClient, WorkerClient, type WorkerInfo } from '../clients/rbee.ts';
import { eventually, GiveUp } from '../observe/eventually.ts';
import { mergeTimeline, readLogLines, type LogLine } from '../observe/logs.ts';
import { withCause } from '../observe/story.ts';
import { assertDeclaredEvents } from '../contract/logs.ts';
import { makeSecrets, type StackSecrets } from './secrets.ts';
import { WORKER_LOG_DIR } from './services.ts';
import { serviceOf, type RunningStack, type Runtime, type ServiceHandle, type Signal } from './runtime.ts';
import type { StackSpec } from './spec.ts';
import { stacksDir } from './reaper.ts';

export interface StartOptions {
  runId: string;
  stackId: string;
  healthTimeoutMs?: number;
}

export class Stack {
  private constructor(
    readonly spec: StackSpec,
    readonly secrets: StackSecrets,
    readonly running: RunningStack,
  ) {}

  static async start(spec: StackSpec, runtime: Runtime, o: StartOptions): Promise<Stack> {
    const secrets = await makeSecrets();
    const workDir = path.join(stacksDir(), o.runId, o.stackId);
    const running = await runtime.start(spec, secrets, {
      runId: o.runId,
      stackId: o.stackId,
      workDir,
      healthTimeoutMs: o.healthTimeoutMs ?? 20_000,
    });
    const stack = new Stack(spec, secrets, running);
    try {
      const workers = (
        await Promise.all(
          spec.hives.filter((h) => h.awaitJoin).map((h) => stack.spawnWorkers(h.name, h.workers, h.model)),
        )
      ).flat();
      await Promise.all(
        spec.hives.filter((h) => !h.awaitJoin).map((h) => stack.spawnWorkers(h.name, h.workers, h.model)),
      );
      await stack.queenSees(
        spec.hives.filter((h) => h.heartbeatToQueen && h.awaitJoin).map((h) => h.name),
        workers.map((w) => w.worker_id),
      );
    } catch (e) {
      await running.stop();
      throw e;
    }
    return stack;
  }

  get runtime(): string {
    return this.running.runtime;
  }

  /** The bearer the harness uses by default: the stack's service token (when auth is on). */
  get token(): string | undefined {
    return this.spec.auth ? this.secrets.serviceToken : undefined;
  }

  service(name: string): ServiceHandle {
    return serviceOf(this.running, name);
  }

  get queen(): QueenClient {
    return new QueenClient(this.service('queen').url, this.token);
  }
  hive(name: string): HiveClient {
    return new HiveClient(this.service(name).url, this.token);
  }
  get hub(): HubClient {
    return new HubClient(this.service('hub').url);
  }
  /** A client for a worker, by the URL its hive reports (reachable from the harness in every runtime). */
  worker(url: string): WorkerClient {
    return new WorkerClient(this.reachable(url), this.token);
  }

  /** Map a URL a service advertises (e.g. a container alias) to one the harness can reach. */
  reachable(url: string): string {
    const direct = this.running.harnessUrl?.(url);
    if (direct) return direct;
    const u = new URL(url);
    const svc = this.running.services.get(u.hostname);
    if (!svc) return url;
    const base = new URL(svc.url);
    u.hostname = base.hostname;
    return u.toString().replace(/\/$/, '');
  }

  get hiveNames(): string[] {
    return this.spec.hives.map((h) => h.name);
  }

  /**
   * Ask a hive to spawn `count` workers and wait until it lists them idle (`underLoad`: idle or busy, since
   * clients may take a fresh worker at once). A worker the hive listed and then no longer lists is a failure
   * at once (it died, or its hive restarted without it), not a wait until the bound.
   */
  async spawnWorkers(
    hiveName: string,
    count: number,
    model: string,
    withinMs = 20_000,
    o: { underLoad?: boolean } = {},
  ): Promise<WorkerInfo[]> {
    const hive = this.hive(hiveName);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = await hive.spawn(model);
      if (r.status !== 200)
        throw new Error(`${hiveName} refused to spawn a worker for ${model}: ${r.status} ${r.text}`);
      ids.push(r.json.worker_id);
    }
    if (!ids.length) return [];
    // Each worker's states as the hive listed them over time, so a timeout says how it got where it is.
    const t0 = Date.now();
    const history = new Map<string, string[]>(ids.map((id) => [id, []]));
    const note = (id: string, state: string) => {
      const h = history.get(id)!;
      if (h.at(-1)?.startsWith(`${state}@`)) return;
      h.push(`${state}@${((Date.now() - t0) / 1000).toFixed(1)}s`);
    };
    try {
      return await eventually(
        async () => {
          const workers = await hive.workers();
          const mine = workers.filter((w) => ids.includes(w.worker_id));
          for (const id of ids) note(id, mine.find((w) => w.worker_id === id)?.state ?? 'absent');
          const vanished = ids.filter(
            (id) => history.get(id)!.length > 1 && history.get(id)!.at(-1)!.startsWith('absent@'),
          );
          if (vanished.length)
            throw new GiveUp(
              `${vanished.join(', ')} no longer listed by ${hiveName}: ${vanished.map((id) => history.get(id)!.join(' → ')).join('; ')}`,
            );
          const up = (state: string | undefined) => state === 'idle' || (o.underLoad === true && state === 'busy');
          const notIdle = ids.filter((id) => !up(mine.find((w) => w.worker_id === id)?.state));
          if (notIdle.length)
            throw new Error(
              `not ${o.underLoad ? 'idle or busy' : 'idle'} yet: ${notIdle.map((id) => `${id}=${mine.find((w) => w.worker_id === id)?.state ?? 'absent'}`).join(', ')}`,
            );
          return mine;
        },
        { within: withinMs, every: 100, what: `${count} worker(s) on ${hiveName} to be idle` },
      );
    } catch (e) {
      if (e instanceof Error) {
        const { text, hints } = this.workerStories(hiveName, ids, history);
        // The closing summary shows only the first line: the hint goes there, the stories below it.
        e.message = `${e.message}${hints.length ? ` — ${hints.join('; ')}` : ''}\n${text}`;
      }
      throw e;
    }
  }

  /**
   * For a start-up that failed: what each worker went through, as the hive listed it and as the logs of
   * the hive and the worker tell it (the stack is torn down right after, so this is all that is left).
   */
  private workerStories(
    hiveName: string,
    ids: string[],
    history: Map<string, string[]>,
  ): { text: string; hints: string[] } {
    let lines: LogLine[] = [];
    try {
      lines = this.logs(hiveName);
    } catch {
      /* no log file: the states alone */
    }
    const hints: string[] = [];
    const text = ids
      .map((id) => {
        const mine = lines.filter((l) => l.worker_id === id);
        const events = mine
          .filter((l) => l.event)
          .map((l) => `${l.service}:${l.event}${l.level === 'warn' || l.level === 'error' ? ` (${l.msg})` : ''}`);
        const has = (ev: string) => mine.some((l) => l.event === ev);
        const wasLoading = (history.get(id) ?? []).some((h) => h.startsWith('loading@'));
        const hint =
          has('worker.ready_callback_sent') && wasLoading
            ? `${id}: the worker says its ready callback was accepted, yet the hive kept it loading`
            : has('model.loaded') && !has('worker.ready_callback_sent')
              ? `${id}: the worker loaded its model but logged no accepted ready callback`
              : '';
        if (hint) hints.push(hint);
        return `  ${id}: hive listed it ${(history.get(id) ?? []).join(' → ') || '(never)'}; log events: ${events.join(', ') || '(none)'}`;
      })
      .join('\n');
    return { text, hints };
  }

  /** Ready means ready for clients: the queen lists the hives as available and their workers as idle. */
  private async queenSees(hives: string[], workerIds: string[]): Promise<void> {
    if (!hives.length) return;
    // A hive the queen never lists usually says why in its own log (heartbeats refused, wrong URL…).
    await eventually(
      async () => {
        const r = await this.queen.hives();
        const available = (r.json?.nodes ?? [])
          .filter((n: any) => n.status === 'available')
          .map((n: any) => n.node_name);
        const missing = hives.filter((h) => !available.includes(h));
        if (missing.length) throw new Error(`the queen does not list as available: ${missing.join(', ')} (${r.text})`);
        const w = await this.queen.workers();
        const idle = (w.json?.workers ?? []).filter((x: any) => x.state === 'idle').map((x: any) => x.worker_id);
        const notIdle = workerIds.filter((id) => !idle.includes(id));
        if (notIdle.length) throw new Error(`the queen does not list as idle: ${notIdle.join(', ')} (${w.text})`);
      },
      {
        within: Math.max(5000, this.spec.timings.heartbeatIntervalMs * 4),
        every: 50,
        what: 'the queen to see the hives and their workers',
      },
    ).catch((e: unknown) => {
      throw withCause(e, this.logs(), [...hives, ...workerIds]);
    });
  }

  /** A hive's workers in a stable order (by id), and the first of them, which "the first worker" steps act on. */
  async workersOf(hive: string): Promise<WorkerInfo[]> {
    return (await this.hive(hive).workers()).sort((a, b) => a.worker_id.localeCompare(b.worker_id));
  }

  async firstWorker(hive: string): Promise<WorkerInfo> {
    const [first] = await this.workersOf(hive);
    if (!first) throw new Error(`${hive} lists no worker`);
    return first;
  }

  /** Signal one of a hive's workers: its own container where it has one, else its process through the hive. */
  async signalWorker(hive: string, w: { worker_id: string; pid: number | null }, sig: Signal): Promise<void> {
    const own = this.running.workerContainer?.(w.worker_id);
    if (own) return own.signal(sig);
    if (own === null) throw new Error(`worker ${w.worker_id} of ${hive} has no container (any more)`);
    if (w.pid === null) throw new Error(`${hive} reports no pid for worker ${w.worker_id} (external worker?)`);
    await this.service(hive).signalChild(w.pid, sig);
  }

  /** Does one of a hive's workers still run (its container, or its process)? */
  async workerAlive(hive: string, w: { worker_id: string; pid: number | null }): Promise<boolean> {
    const own = this.running.workerContainer?.(w.worker_id);
    if (own !== undefined) return own?.running() ?? false;
    return w.pid !== null && (await this.service(hive).childAlive(w.pid));
  }

  /**
   * Every JSON log line the stack's services wrote (hives' lines include their workers'). A line with an
   * event the contract does not declare is a ContractViolation at once: a renamed event would otherwise be
   * a wait that times out on a symptom.
   */
  logs(service?: string): LogLine[] {
    return assertDeclaredEvents(this.logLines(service));
  }

  /** The same lines, unchecked: for the end-of-scenario contract check and reports, which list every problem. */
  logLines(service?: string): LogLine[] {
    const names = service ? [service] : [...this.running.services.keys()];
    return names.flatMap((n) => serviceLogLines(this.service(n)));
  }

  async stop(): Promise<void> {
    await this.running.stop();
  }
}

/**
 * A service's JSON log lines; a hive's are merged in time order with its workers' own files
 * (RBEE_WORKER_LOG_DIR), which keep a worker's lines after its hive restarted.
 */
export function serviceLogLines(svc: ServiceHandle): LogLine[] {
  const lines = readLogLines(svc.logFile);
  if (svc.kind !== 'hive') return lines;
  const dir = path.join(svc.dataDir, WORKER_LOG_DIR);
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.log'));
  } catch {
    return lines; // no worker started yet
  }
  return mergeTimeline([...lines, ...files.flatMap((f) => readLogLines(path.join(dir, f)))]);
}
