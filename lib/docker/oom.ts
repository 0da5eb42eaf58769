// Out-of-memory kills, as the engine reports them. An `oom` event fires for a container whenever the kernel
// kills any process in its memory cgroup — also a hive's worker child, while the hive itself keeps running
// (State.OOMKilled is only set once the container's main process has exited, on older engines). So the
// event stream is the confirmation for "the kernel killed it for memory", not exit code 137.

import type Docker from 'dockerode';
import { LABEL } from './labels.ts';

export interface OomEvent {
  service: string;
  /** For a mock worker's own container: its hive. */
  hive?: string;
  containerId: string;
  /** Engine time of the event, ms since the epoch. */
  at: number;
}

export class OomWatch {
  readonly events: OomEvent[] = [];
  private waiters: Array<() => void> = [];
  private constructor(private readonly stream: NodeJS.ReadableStream & { destroy?: () => void }) {}

  /** Watch every container of one stack (by label), from now on. */
  static async start(d: Docker, stackLabel: string): Promise<OomWatch> {
    const stream = await d.getEvents({
      filters: { type: ['container'], event: ['oom'], label: [`${LABEL.stack}=${stackLabel}`] },
    });
    const w = new OomWatch(stream as NodeJS.ReadableStream & { destroy?: () => void });
    let buf = '';
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) w.onEvent(line);
      }
    });
    stream.on('error', () => {}); // closing the watch destroys the stream; nothing to report
    return w;
  }

  private onEvent(line: string): void {
    try {
      const e = JSON.parse(line) as {
        id?: string;
        timeNano?: number;
        time?: number;
        Actor?: { Attributes?: Record<string, string> };
      };
      const service = e.Actor?.Attributes?.[LABEL.service] ?? '?';
      const hive = e.Actor?.Attributes?.[LABEL.hive];
      const at = e.timeNano ? Math.floor(e.timeNano / 1e6) : (e.time ?? 0) * 1000;
      this.events.push({ service, ...(hive ? { hive } : {}), containerId: e.id ?? '', at });
      for (const w of this.waiters.splice(0)) w();
    } catch {
      // A malformed event line is the engine's problem, not a verdict about OOM.
    }
  }

  forService(service: string, since = 0): OomEvent[] {
    return this.events.filter((e) => (e.service === service || e.hive === service) && e.at >= since);
  }

  /** Resolves with the first OOM event of `service` at or after `since`, or undefined after `timeoutMs`. */
  async waitFor(service: string, timeoutMs: number, since = 0): Promise<OomEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.forService(service, since)[0];
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.stream.destroy?.();
    for (const w of this.waiters.splice(0)) w();
  }
}
