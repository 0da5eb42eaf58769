// Harness configuration from the environment (set by run-integration-tests.sh or by hand), validated
// once so a typo fails the run at start with one line instead of somewhere in a scenario.

import { randomBytes } from 'node:crypto';
import { z } from 'zod';

const schema = z.object({
  RBEE_RUNTIME: z.enum(['auto', 'process', 'docker']).default('auto'),
  RBEE_RUN_ID: z
    .string()
    .regex(/^[a-z0-9-]{4,40}$/, 'lowercase letters, digits and dashes, 4–40 chars')
    .optional(),
  RBEE_HEALTH_TIMEOUT_MS: z.coerce.number().int().min(500).max(600_000).default(20_000),
  RBEE_SEED: z.coerce.number().int().min(0).optional(),
  RBEE_KEEP: z.enum(['0', '1']).default('0'),
  RBEE_REPORTS_DIR: z.string().default('reports'),
});

export interface HarnessConfig {
  runtime: 'auto' | 'process' | 'docker';
  runId: string;
  healthTimeoutMs: number;
  seed: number;
  keep: boolean;
  reportsDir: string;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): HarnessConfig {
  const r = schema.safeParse(env);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`bad configuration: ${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`);
  }
  const c = r.data;
  return {
    runtime: c.RBEE_RUNTIME,
    runId: c.RBEE_RUN_ID ?? `r${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`,
    healthTimeoutMs: c.RBEE_HEALTH_TIMEOUT_MS,
    seed: c.RBEE_SEED ?? Math.floor(Math.random() * 2 ** 31),
    keep: c.RBEE_KEEP === '1',
    reportsDir: c.RBEE_REPORTS_DIR,
  };
}
