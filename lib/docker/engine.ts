// Connecting to the Docker engine and asking whether it can run the harness. One shared client per
// process: dockerode reads DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH itself, so a remote engine
// needs no code here, only environment.

import Docker from 'dockerode';
import { withDeadline } from '../observe/eventually.ts';

let shared: Docker | undefined;

export function docker(): Docker {
  shared ??= new Docker();
  return shared;
}

export interface EngineInfo {
  serverVersion: string;
  apiVersion: string;
  cgroupVersion: string;
  /**
   * The engine runs on this machine (unix socket, or TCP to loopback). Local-only features need it:
   * bind-mounted data dirs the harness can read, nsenter-based partitions, reaching container IPs.
   */
  local: boolean;
  /** Where we connected, for reports ("unix:///var/run/docker.sock", "tcp://ci-docker:2376"). */
  endpoint: string;
}

export type Preflight = { ok: true; info: EngineInfo } | { ok: false; reason: string };

function endpoint(): string {
  return process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

export function engineIsLocal(): boolean {
  const host = process.env.DOCKER_HOST;
  if (!host || host.startsWith('unix://')) return true;
  try {
    const h = new URL(host.replace(/^tcp:/, 'http:')).hostname;
    return h === 'localhost' || h === '127.0.0.1' || h === '[::1]';
  } catch {
    return false;
  }
}

/**
 * May the harness reach into the engine's host: nsenter into containers' network namespaces, and bind-mount
 * and read data dirs on this machine's disk? Only with a local engine, and not with
 * RBEE_DOCKER_HOST_SHORTCUTS=0 (which makes a local engine behave as a remote one: faults through helper
 * containers and the archive API, data in volumes — how the remote path is tested here).
 */
export function hostShortcuts(): boolean {
  return engineIsLocal() && process.env.RBEE_DOCKER_HOST_SHORTCUTS !== '0';
}

/** Does an engine answer within `timeoutMs`? Never throws: the reason is for the one-line skip/failure. */
export async function preflight(timeoutMs = 3000): Promise<Preflight> {
  const d = docker();
  const bound = <T>(p: Promise<T>) => withDeadline(p, timeoutMs, () => `no answer within ${timeoutMs} ms`);
  try {
    await bound(d.ping());
    const [version, info] = await bound(Promise.all([d.version(), d.info()]));
    return {
      ok: true,
      info: {
        serverVersion: version.Version,
        apiVersion: version.ApiVersion,
        cgroupVersion: String((info as { CgroupVersion?: string }).CgroupVersion ?? '1'),
        local: engineIsLocal(),
        endpoint: endpoint(),
      },
    };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { ok: false, reason: `docker engine at ${endpoint()} does not answer: ${msg}` };
  }
}

/** Throws one line when no engine answers (the docker runtime cannot do anything without one). */
export async function requireEngine(): Promise<EngineInfo> {
  const p = await preflight();
  if (!p.ok) throw new Error(`${p.reason} (start one with scripts/ensure-docker.sh)`);
  return p.info;
}

/** Engine errors carry the daemon's message in `json.message`; dockerode's own text is less useful. */
export function engineMessage(e: unknown): string {
  const err = e as { json?: { message?: string }; statusCode?: number; message?: string };
  return err?.json?.message ?? err?.message ?? String(e);
}

export function isNotFound(e: unknown): boolean {
  return (e as { statusCode?: number })?.statusCode === 404;
}
