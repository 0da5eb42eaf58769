// The fault timeline: every fault the harness injects, when it was applied and healed, and how the
// heal was verified. Attached to every failed scenario and drawn as a picture in the reports.

export interface FaultRecord {
  kind: string; // crash, pause, partition, …
  target: string; // "worker w-1 on hive-a", "queen ↔ hive-a"
  appliedAt: number; // epoch ms
  healedAt?: number;
  healCheck?: string; // what was observed to prove the heal
  detail?: string;
}

/**
 * What a heal observed to prove it, and (when the undo took effect before the heal returned, e.g. an exec
 * whose change lands at its start) when it took effect; a bare string means "now".
 */
export type HealResult = string | { check: string; at: number };

export class FaultTimeline {
  readonly records: FaultRecord[] = [];
  private heals: Array<{ record: FaultRecord; heal: () => Promise<HealResult> }> = [];

  /** Record an applied fault; `heal` undoes it and returns what it observed to prove it. */
  applied(kind: string, target: string, heal?: () => Promise<HealResult>, detail?: string): FaultRecord {
    const record: FaultRecord = { kind, target, appliedAt: Date.now(), ...(detail ? { detail } : {}) };
    this.records.push(record);
    if (heal) this.heals.push({ record, heal });
    return record;
  }

  /** When the latest fault was applied or healed (a bound "within N s" after a fault starts there). */
  lastEventAt(): number | undefined {
    const times = this.records.map((r) => r.healedAt ?? r.appliedAt);
    return times.length ? Math.max(...times) : undefined;
  }

  /** Heal one fault now (a step such as "When the worker is resumed"). */
  async heal(record: FaultRecord): Promise<void> {
    const i = this.heals.findIndex((h) => h.record === record);
    if (i < 0) return;
    const [h] = this.heals.splice(i, 1);
    const r = await h!.heal();
    record.healCheck = typeof r === 'string' ? r : r.check;
    record.healedAt = typeof r === 'string' ? Date.now() : r.at;
  }

  /** Heal everything still applied, newest first; errors are collected, not thrown midway. */
  async healAll(): Promise<string[]> {
    const errors: string[] = [];
    for (const h of [...this.heals].reverse()) {
      try {
        await this.heal(h.record);
      } catch (e) {
        errors.push(`could not heal ${h.record.kind} of ${h.record.target}: ${(e as Error).message}`);
      }
    }
    return errors;
  }

  get active(): FaultRecord[] {
    return this.heals.map((h) => h.record);
  }

  format(origin = this.records[0]?.appliedAt ?? Date.now()): string {
    if (!this.records.length) return '(no faults injected)';
    return this.records
      .map(
        (r) =>
          `+${r.appliedAt - origin} ms ${r.kind} ${r.target}${r.detail ? ` (${r.detail})` : ''}` +
          (r.healedAt ? ` → healed at +${r.healedAt - origin} ms: ${r.healCheck}` : ' → never healed'),
      )
      .join('\n');
  }
}
