// The World: one per scenario. It holds the scenario's stack, the nemesis, and what was observed —
// nothing else. Steps read and write it; the library does the work.

import { World, setWorldConstructor, type IWorldOptions } from '@cucumber/cucumber';
import { StackSpecBuilder } from '../lib/stack/spec.ts';
import { Stack } from '../lib/stack/stack.ts';
import { Nemesis } from '../lib/faults/nemesis.ts';
import type { Job } from '../lib/clients/job.ts';
import type { HttpResponse } from '../lib/clients/http.ts';
import type { ChaosRun } from '../lib/chaos/run.ts';
import { harness } from './harness.ts';
import type { FaultRecord } from '../lib/faults/timeline.ts';
import { eventually, leftOf } from '../lib/observe/eventually.ts';
import { withCause } from '../lib/observe/story.ts';
import { expect } from 'chai';

export interface Measurement {
  name: string;
  value: number;
  unit: string;
}

/** The worker a scenario acts on (killed, cut off, spawned to fail…), and the fault that hit it, if any. */
export interface Victim {
  hive: string;
  workerId: string;
  pid?: number;
  fault?: FaultRecord;
}

export class RbeeWorld extends World {
  private readonly spec = new StackSpecBuilder();
  stack?: Stack;
  nemesis?: Nemesis;
  scenarioId = 'scenario';
  scenarioName = '';
  scenarioStartedAt = Date.now();
  /** Jobs submitted in this scenario, in order; `job` is the latest. */
  readonly jobs: Job[] = [];
  /** The latest plain HTTP answer a step observed (for error assertions). */
  response?: HttpResponse;
  /** Named things a step remembered for a later step (a worker id, a snapshot). */
  readonly remembered = new Map<string, unknown>();
  readonly measurements: Measurement[] = [];
  /** The scenario's chaos run (workload + fault schedule), once it has run. */
  chaos?: ChaosRun;
  /** How long the stack took to start (ms), for the scenario's time breakdown. */
  stackStartMs = 0;

  constructor(options: IWorldOptions) {
    super(options);
  }

  /**
   * The stack's spec, for configuration steps. They must come before the first step that uses the
   * stack: afterwards a change would silently not apply, so it is an error.
   */
  configure(): StackSpecBuilder {
    if (this.stack)
      throw new Error(
        'the stack is already running: put configuration steps before the first step that uses the stack',
      );
    return this.spec;
  }

  /** The running stack; started from the spec on first use. */
  async theStack(): Promise<Stack> {
    if (!this.stack) {
      const t0 = performance.now();
      this.stack = await this.freshStack();
      this.stackStartMs = performance.now() - t0;
      this.nemesis = new Nemesis(this.stack);
    }
    return this.stack;
  }

  /** Another stack built from the scenario's spec (e.g. for shrinking); the caller stops it. */
  async freshStack(): Promise<Stack> {
    const stack = await Stack.start(this.spec.build(), harness().runtime, {
      runId: harness().config.runId,
      stackId: `${this.scenarioId.toLowerCase()}-${Date.now().toString(36)}`,
      healthTimeoutMs: harness().config.healthTimeoutMs,
    });
    harness().live.add(stack); // stopped at the end of the run (or on Ctrl-C) if nobody stopped it before; stop() is idempotent
    return stack;
  }

  get job(): Job {
    const j = this.jobs.at(-1);
    if (!j) throw new Error('no job was submitted in this scenario yet');
    return j;
  }

  theChaosRun(): ChaosRun {
    if (!this.chaos)
      throw new Error(
        'no chaos run in this scenario yet (the step that runs the workload through a fault schedule must come first)',
      );
    return this.chaos;
  }

  /** The worker the scenario acts on, set by the step that picked it. */
  victim?: Victim;

  theVictim(): Victim {
    if (!this.victim)
      throw new Error('no worker was picked yet (a step that kills, cuts off or spawns one must come first)');
    return this.victim;
  }

  /**
   * The fault the scenario's later steps observe and heal: the one a step injected (partition, pause,
   * crash, storage) or observed (an OOM kill the engine confirmed).
   */
  fault?: FaultRecord;

  theFault(): FaultRecord {
    if (!this.fault) throw new Error('no fault was injected yet (a step that injects or confirms one must come first)');
    return this.fault;
  }

  recall<T>(key: string): T {
    if (!this.remembered.has(key))
      throw new Error(`nothing remembered as "${key}" (a step that records it must come first)`);
    return this.remembered.get(key) as T;
  }

  /**
   * Milliseconds left of "within N seconds" counted from the latest fault event (applied, or healed if it
   * was), never from when the step began; from now when no fault was injected.
   */
  withinOfLastFault(seconds: number): number {
    return leftOf(this.nemesis?.timeline.lastEventAt() ?? Date.now(), seconds * 1000);
  }

  /**
   * Run a check about some objects (worker, job, hive ids); if it fails, its first line leads with what the
   * services logged as the cause (the last warning or error about them), the symptom after it.
   */
  async explaining<T>(ids: ReadonlyArray<string | undefined>, check: () => Promise<T>): Promise<T> {
    try {
      return await check();
    } catch (e) {
      const known = ids.filter((id): id is string => !!id);
      throw this.stack && known.length ? withCause(e, this.stack.logs(), known) : e;
    }
  }

  /** Wait until the queen's registry list shows `hive` with these fields (e.g. status, circuit). */
  async expectInQueenRegistry(hive: string, fields: Record<string, unknown>, withinMs: number): Promise<void> {
    const stack = await this.theStack();
    await eventually(
      async () => {
        const r = await stack.queen.hives();
        expect(
          r.json?.nodes?.find((n: { node_name?: string }) => n.node_name === hive),
          `the queen's registry: ${r.text}`,
        ).to.include(fields);
      },
      { within: withinMs, every: 100, what: `the queen to list ${hive} with ${JSON.stringify(fields)}` },
    );
  }

  /** Record a measured figure; it is attached to the scenario's report. */
  measure(name: string, value: number, unit = 'ms'): void {
    this.measurements.push({ name, value: Math.round(value * 100) / 100, unit });
  }
}

setWorldConstructor(RbeeWorld);
