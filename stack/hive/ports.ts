// Worker port allocation from RBEE_WORKER_PORT_RANGE. Several stacks may share one machine, so a port is
// only handed out after briefly binding it (on the worker host and on 0.0.0.0); ports in use are skipped.
// The search starts at a random offset so that parallel hives with the same range rarely race for the
// same port between our probe and the worker's own bind.

import net from 'node:net';

export class PortAllocator {
  private readonly taken = new Set<number>();
  private cursor: number;

  constructor(
    private readonly range: [number, number],
    private readonly hosts: string[],
  ) {
    const size = range[1] - range[0] + 1;
    this.cursor = range[0] + Math.floor(Math.random() * size);
  }

  /** Reserve a free port; `preferred` is tried first (a restarted worker keeps its port when it can). */
  async allocate(preferred?: number): Promise<number> {
    if (preferred !== undefined && !this.taken.has(preferred) && (await this.isFree(preferred))) {
      this.taken.add(preferred);
      return preferred;
    }
    const [lo, hi] = this.range;
    const size = hi - lo + 1;
    for (let i = 0; i < size; i++) {
      const port = lo + ((this.cursor - lo + i) % size);
      if (this.taken.has(port)) continue;
      // Reserve before the async probe so that concurrent spawns never get the same port.
      this.taken.add(port);
      if (await this.isFree(port)) {
        this.cursor = port + 1 > hi ? lo : port + 1;
        return port;
      }
      this.taken.delete(port);
    }
    throw new Error(`no free port in RBEE_WORKER_PORT_RANGE ${lo}-${hi}`);
  }

  /** Mark a port as used by a worker the hive did not allocate for (reloaded after a restart). */
  markUsed(port: number): void {
    this.taken.add(port);
  }

  release(port: number): void {
    this.taken.delete(port);
  }

  private async isFree(port: number): Promise<boolean> {
    for (const host of new Set([...this.hosts, '0.0.0.0'])) {
      const r = await tryBind(port, host);
      if (r === 'in_use') return false;
    }
    return true;
  }
}

function tryBind(port: number, host: string): Promise<'free' | 'in_use' | 'unknown'> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      // Only "in use" (or no permission for it) rules a port out; a host we cannot bind says nothing about it.
      resolve(e.code === 'EADDRINUSE' || e.code === 'EACCES' ? 'in_use' : 'unknown');
    });
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve('free')));
  });
}
