// The nemesis: faults injected into a running stack, through the runtime's primitives, so the same
// call works in every runtime that can do it. Each fault goes on the timeline with its heal, and a
// heal is verified by observation (the worker answers again, the process is back) before it counts.

import type { WorkerInfo } from '../clients/rbee.ts';
import { delay, eventually } from '../observe/eventually.ts';
import type { Stack } from '../stack/stack.ts';
import type { LinkFaults, ServiceHandle, ServiceInstance } from '../stack/runtime.ts';
import { HEALTH_PATH } from '../stack/services.ts';
import { FaultTimeline, type FaultRecord } from './timeline.ts';
import { linkControl } from '../observe/in-service.ts';

export class Nemesis {
  readonly timeline = new FaultTimeline();
  constructor(private readonly stack: Stack) {}

  async findWorker(hive: string, workerId: string): Promise<WorkerInfo> {
    const w = (await this.stack.hive(hive).workers()).find((x) => x.worker_id === workerId);
    if (!w) throw new Error(`${hive} does not list worker ${workerId}`);
    if (!w.pid) throw new Error(`${hive} reports no pid for worker ${workerId} (external worker?)`);
    return w;
  }

  /** SIGKILL a worker process that a hive started. */
  async crashWorker(hive: string, workerId: string): Promise<FaultRecord> {
    const w = await this.findWorker(hive, workerId);
    // Taken before the signal: sending it may take a while (an exec in the docker runtime), and
    // detection latencies are measured from here.
    const sentAt = Date.now();
    await this.stack.signalWorker(hive, w, 'SIGKILL');
    const record = this.timeline.applied('crash', `worker ${workerId} on ${hive}`, undefined, `SIGKILL pid ${w.pid}`);
    record.appliedAt = sentAt;
    return record;
  }

  /** SIGSTOP a worker; the heal sends SIGCONT and waits until its /health answers again. */
  async pauseWorker(hive: string, workerId: string): Promise<FaultRecord> {
    const w = await this.findWorker(hive, workerId);
    await this.stack.signalWorker(hive, w, 'SIGSTOP');
    const client = this.stack.worker(w.url);
    return this.timeline.applied(
      'pause',
      `worker ${workerId} on ${hive}`,
      async () => {
        await this.stack.signalWorker(hive, w, 'SIGCONT');
        await eventually(
          async () => {
            const r = await client.health();
            if (r.status !== 200) throw new Error(`/health answered ${r.status}`);
          },
          { within: 5000, what: `worker ${workerId} to answer /health after SIGCONT` },
        );
        return 'worker answers /health again';
      },
      `SIGSTOP pid ${w.pid}`,
    );
  }

  /** SIGKILL a service's main process (queen, hive, hub); the heal restarts it and waits for health. */
  async crashService(name: string): Promise<FaultRecord> {
    const svc = this.stack.service(name);
    const before = await svc.instance();
    await svc.signal('SIGKILL');
    const status = await svc.waitExit(5000);
    if (!status) throw new Error(`${name} did not exit within 5 s of SIGKILL`);
    if (await answersHealth(svc)) throw new Error(`${name} still answers its health route after SIGKILL`);
    return this.timeline.applied(
      'crash',
      name,
      async () => {
        if (!svc.running()) await svc.restart();
        return `${name} restarted and healthy: ${await newInstance(svc, before)}`;
      },
      `exit signal ${status.signal}; health route not answering`,
    );
  }

  /** SIGSTOP a service's main process (container freeze in docker); heal = SIGCONT + health answers. */
  async pauseService(name: string): Promise<FaultRecord> {
    const svc = this.stack.service(name);
    await svc.signal('SIGSTOP');
    return this.timeline.applied('pause', name, async () => {
      await svc.signal('SIGCONT');
      await eventually(
        async () => {
          const r = await fetch(svc.url + (svc.kind === 'hive' ? '/v1/health' : '/health'), {
            signal: AbortSignal.timeout(1000),
          });
          if (!r.ok) throw new Error(`health answered ${r.status}`);
        },
        { within: 5000, what: `${name} to answer its health route after resume` },
      );
      return `${name} answers its health route again`;
    });
  }

  /**
   * Restart a service (kill + start with the same data), observed: a new instance (pid / container start)
   * and a moment in which its health route did not answer, probed every 50 ms while the restart runs.
   * A restart that did nothing fails here instead of passing as healed.
   */
  async restartService(name: string): Promise<FaultRecord> {
    const svc = this.stack.service(name);
    const before = await svc.instance();
    const record = this.timeline.applied('restart', name);
    let probes = 0;
    let unanswered = 0;
    let restarting = true;
    const watch = (async () => {
      while (restarting) {
        probes++;
        if (!(await answersHealth(svc))) unanswered++;
        await delay(50);
      }
    })();
    try {
      await svc.restart();
    } finally {
      restarting = false;
      await watch;
    }
    const changed = await newInstance(svc, before);
    if (unanswered === 0)
      throw new Error(`${name} answered all ${probes} health probes during its restart: it never went down`);
    record.healedAt = Date.now();
    record.healCheck = `${name} healthy after restart: ${changed}; ${unanswered} of ${probes} health probes unanswered`;
    return record;
  }

  /** A file in a service's data directory (its database) becomes unavailable; heal = the same file back. */
  async storageUnavailable(service: string, relPath: string): Promise<FaultRecord> {
    const files = this.stack.service(service).files;
    // Times are taken before each change: through the engine it lands at the start of an exec, and the
    // service may react (log store.write_failed) before the exec has returned.
    const appliedAt = Date.now();
    await files.makeUnavailable(relPath);
    const record = this.timeline.applied(
      'storage-unavailable',
      `${service}:${relPath}`,
      async () => {
        const at = Date.now();
        await files.makeAvailable(relPath);
        return { check: `${relPath} back in place`, at };
      },
      'file moved aside, a directory in its place: every open fails',
    );
    record.appliedAt = appliedAt;
    return record;
  }

  /** Overwrite bytes of a file in a service's data directory with garbage (the heal keeps it broken: data loss is the point). */
  async corruptFile(
    service: string,
    relPath: string,
    o: { offset?: number; length?: number } = {},
  ): Promise<FaultRecord> {
    const files = this.stack.service(service).files;
    const data = await files.read(relPath);
    const appliedAt = Date.now();
    const offset = o.offset ?? 0;
    const length = Math.min(o.length ?? data.length, data.length - offset);
    for (let i = 0; i < length; i++) data[offset + i] = (i * 131 + 7) & 0xff;
    await files.write(relPath, data);
    const record = this.timeline.applied(
      'corrupt',
      `${service}:${relPath}`,
      undefined,
      `${length} bytes at offset ${offset}`,
    );
    record.appliedAt = appliedAt;
    return record;
  }

  private links(kind: string): LinkFaults {
    return linkControl(this.stack, kind);
  }

  /** Stop traffic between two services (both ways, or only a → b); open connections included. */
  async partition(a: string, b: string, oneWay = false): Promise<FaultRecord> {
    const f = await this.links('partition').partition(a, b, { oneWay });
    return this.timeline.applied('partition', oneWay ? `${a} → ${b}` : `${a} ↔ ${b}`, () => f.heal(), f.description);
  }

  /** Stop traffic between a hive and one of its workers. */
  async partitionWorker(hive: string, workerId: string): Promise<FaultRecord> {
    const net = this.links('partition hive ↔ worker');
    const w = (await this.stack.hive(hive).workers()).find((x) => x.worker_id === workerId);
    if (!w) throw new Error(`${hive} does not list worker ${workerId}`);
    const f = await net.partitionWorker(hive, { id: workerId, port: Number(new URL(w.url).port) });
    return this.timeline.applied('partition', `${hive} ↔ worker ${workerId}`, () => f.heal(), f.description);
  }

  /** Add latency and/or a bandwidth cap on a → b through a link proxy. */
  async shapeLink(a: string, b: string, o: { latencyMs?: number; bandwidthBps?: number }): Promise<FaultRecord> {
    const f = await this.links('latency/bandwidth').shapeLink(a, b, o);
    return this.timeline.applied('link', `${a} → ${b}`, () => f.heal(), f.description);
  }

  heal(record: FaultRecord): Promise<void> {
    return this.timeline.heal(record);
  }

  healAll(): Promise<string[]> {
    return this.timeline.healAll();
  }
}

/** Does the service answer its health route now (within 250 ms)? */
async function answersHealth(svc: ServiceHandle): Promise<boolean> {
  try {
    const r = await fetch(svc.url + HEALTH_PATH[svc.kind], { signal: AbortSignal.timeout(250) });
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

/** "pid 1 → pid 2"; throws when the service runs as the same instance as before. */
async function newInstance(svc: ServiceHandle, before: ServiceInstance): Promise<string> {
  const after = await svc.instance();
  if (after.id === before.id && after.startedAt === before.startedAt)
    throw new Error(
      `${svc.name} was not restarted: still ${after.id}, started ${new Date(after.startedAt).toISOString()}`,
    );
  return `${before.id} → ${after.id}`;
}
