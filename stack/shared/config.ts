// Reading the contract's environment knobs. A malformed value stops the service at start with one clear
// line instead of silently running with a default.

export function envString(name: string, fallback?: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`invalid ${name}=${JSON.stringify(raw)}: expected a non-negative integer\n`);
    process.exit(2);
  }
  return n;
}

export function envRange(name: string, fallback: [number, number]): [number, number] {
  const raw = process.env[name];
  if (!raw) return fallback;
  const m = /^(\d+)-(\d+)$/.exec(raw);
  if (!m || Number(m[1]) > Number(m[2])) {
    process.stderr.write(`invalid ${name}=${JSON.stringify(raw)}: expected LOW-HIGH, e.g. 8081-9000\n`);
    process.exit(2);
  }
  return [Number(m[1]), Number(m[2])];
}

/** Host to bind: loopback by default (process runtime); containers set RBEE_BIND_HOST=0.0.0.0. */
export function bindHost(): string {
  return envString('RBEE_BIND_HOST', '127.0.0.1')!;
}

export const VERSION = '0.1.0';
