// How the process runtime starts each service: the reference stack's bundle run by this Node, or another
// build's own command line (RBEE_BUILD_QUEEN_CMD, RBEE_BUILD_HIVE_CMD, RBEE_BUILD_WORKER_CMD,
// RBEE_BUILD_HUB_CMD: words split on white space, the service's arguments appended). The harness gives it
// the same environment (contract §0–§3 config) either way, so another team's binaries run under the same
// scenarios; `RBEE_APP_IMAGE` is the docker runtime's counterpart.

import fs from 'node:fs';
import path from 'node:path';
import type { ServiceKind } from './services.ts';

export function buildCommandVar(kind: ServiceKind): string {
  return `RBEE_BUILD_${kind.toUpperCase()}_CMD`;
}

/** The command line (executable first) a service of `kind` is started with. */
export function serviceCommand(kind: ServiceKind, bundle: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env[buildCommandVar(kind)]?.trim();
  if (!configured) return [process.execPath, bundle];
  const words = configured.split(/\s+/);
  const exe = words[0]!;
  const found = exe.includes('/')
    ? fs.existsSync(exe)
    : (env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, exe)));
  if (!found)
    throw new Error(
      `${buildCommandVar(kind)}=${configured}: ${exe} is not ${exe.includes('/') ? 'a file' : 'on PATH'}; give the command that starts your ${kind} (its arguments are appended)`,
    );
  return words;
}
