// The stack spec: what a scenario asks for (topology and knobs), validated with zod so that a bad
// topology step or a bad config file fails with one line naming the field.

import { z } from 'zod';

/** Fast timings for tests: the contract's behaviour, with intervals shrunk through its env knobs. */
export const FAST_TIMINGS = {
  heartbeatIntervalMs: 250,
  hiveTimeoutMs: 2000,
  workerHeartbeatTimeoutMs: 1500,
  monitorIntervalMs: 250,
  // The contract's default, not shortened: loading only ends early when it works, and five workers spawned
  // at once beside three other stacks on two cores took 8 s just to listen (INT-002 in CI). A scenario about
  // the timeout sets its own (PAT "a worker stuck loading").
  workerLoadingTimeoutMs: 30_000,
  workerIdleTimeoutMs: 300_000,
  cbFailures: 3,
  cbCooldownMs: 2000,
  workerReadyTimeoutMs: 15_000,
  shutdownGraceMs: 10_000,
} as const;

const timingsSchema = z
  .object({
    heartbeatIntervalMs: z.number().int().positive(),
    hiveTimeoutMs: z.number().int().positive(),
    workerHeartbeatTimeoutMs: z.number().int().positive(),
    monitorIntervalMs: z.number().int().positive(),
    workerLoadingTimeoutMs: z.number().int().positive(),
    workerIdleTimeoutMs: z.number().int().positive(),
    cbFailures: z.number().int().positive(),
    cbCooldownMs: z.number().int().positive(),
    workerReadyTimeoutMs: z.number().int().positive(),
    shutdownGraceMs: z.number().int().positive(),
  })
  .strict();

const envSchema = z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'env names are UPPER_SNAKE'), z.string());

const hiveSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, 'hive names are lowercase letters, digits and dashes'),
    workers: z.number().int().min(0).max(16),
    model: z.string().min(1),
    heartbeatToQueen: z.boolean(),
    /** Start-up waits until the queen lists this hive (off for a hive meant to be refused). */
    awaitJoin: z.boolean().default(true),
    env: envSchema,
  })
  .strict();

export const stackSpecSchema = z
  .object({
    hives: z.array(hiveSchema).min(0).max(8),
    auth: z.boolean(),
    jwt: z.boolean(),
    timings: timingsSchema,
    /** Env given to every worker (MOCK_* knobs), through the hive that spawns it. */
    workerEnv: envSchema,
    hubBandwidthBps: z.number().int().min(0),
    /** Memory limit (bytes) per service; exceeding it ends in a kernel OOM kill (docker runtime). */
    memoryLimits: z.record(
      z.string(),
      z
        .number()
        .int()
        .min(16 * 1024 * 1024),
    ),
    /** Pin a service's port instead of allocating a free one (process runtime). */
    fixedPorts: z.record(z.string(), z.number().int().min(1).max(65535)),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const names = spec.hives.map((h) => h.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['hives'], message: `hive name "${dup}" is used twice` });
  });

export type StackSpec = z.infer<typeof stackSpecSchema>;
export type HiveSpec = StackSpec['hives'][number];
export type Timings = StackSpec['timings'];

export const DEFAULT_MODEL = 'hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF';

export function defaultSpec(): StackSpec {
  return {
    hives: [{ name: 'hive-a', workers: 1, model: DEFAULT_MODEL, heartbeatToQueen: true, awaitJoin: true, env: {} }],
    auth: true,
    jwt: true,
    timings: { ...FAST_TIMINGS },
    workerEnv: { MOCK_LOAD_MS: '100', MOCK_TOKEN_DELAY_MS: '10' },
    hubBandwidthBps: 0,
    memoryLimits: {},
    fixedPorts: {},
  };
}

/** Validate a spec; throws one readable line per problem. */
export function parseSpec(input: unknown): StackSpec {
  const r = stackSpecSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`);
  throw new Error(`invalid stack spec: ${lines.join('; ')}`);
}

/** `hive-a`, `hive-b`, … */
export function hiveName(index: number): string {
  return `hive-${String.fromCharCode(97 + index)}`;
}

/** Builder in the style of testcontainers: configure, then hand to a runtime to start. */
export class StackSpecBuilder {
  private spec: StackSpec = defaultSpec();

  hives(count: number, workersEach: number): this {
    const model = this.spec.hives[0]?.model ?? DEFAULT_MODEL;
    this.spec.hives = Array.from({ length: count }, (_, i) => ({
      name: hiveName(i),
      workers: workersEach,
      model,
      heartbeatToQueen: true,
      awaitJoin: true,
      env: {},
    }));
    return this;
  }
  model(ref: string): this {
    for (const h of this.spec.hives) h.model = ref;
    return this;
  }
  auth(on: boolean): this {
    this.spec.auth = on;
    this.spec.jwt = on;
    return this;
  }
  timings(t: Partial<Timings>): this {
    this.spec.timings = { ...this.spec.timings, ...t };
    return this;
  }
  workerEnv(env: Record<string, string>): this {
    this.spec.workerEnv = { ...this.spec.workerEnv, ...env };
    return this;
  }
  hiveEnv(env: Record<string, string>): this {
    for (const h of this.spec.hives) h.env = { ...h.env, ...env };
    return this;
  }
  /** The stack starts without waiting for this hive to join the queen (it is meant to be refused). */
  hiveNotExpectedToJoin(name: string): this {
    this.hiveEnvFor(name, {});
    this.spec.hives.find((h) => h.name === name)!.awaitJoin = false;
    return this;
  }
  /** Env for one hive only (e.g. a wrong token, a lower worker limit). */
  hiveEnvFor(name: string, env: Record<string, string>): this {
    const hive = this.spec.hives.find((h) => h.name === name);
    if (!hive)
      throw new Error(
        `no hive "${name}" in the topology; it has: ${this.spec.hives.map((h) => h.name).join(', ') || 'none'}`,
      );
    hive.env = { ...hive.env, ...env };
    return this;
  }
  hubBandwidth(bps: number): this {
    this.spec.hubBandwidthBps = bps;
    return this;
  }
  memoryLimit(service: string, bytes: number): this {
    this.spec.memoryLimits[service] = bytes;
    return this;
  }
  fixedPort(service: string, port: number): this {
    this.spec.fixedPorts[service] = port;
    return this;
  }
  build(): StackSpec {
    return parseSpec(structuredClone(this.spec));
  }
}
