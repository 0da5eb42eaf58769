// The diagnostics bundle of a failed scenario: everything a developer needs to understand the failure
// without opening another file — each service's log lines since the scenario started, the fault
// timeline, process/container state, the last observation of the wait that failed, the seed and the
// command that replays it.

import { serviceLogLines, type Stack } from '../stack/stack.ts';
import type { FaultTimeline } from '../faults/timeline.ts';
import { redact } from './redact.ts';

export interface DiagnosticsInput {
  scenario: string;
  scenarioTag?: string;
  startedAt: number;
  error?: string;
  stack?: Stack;
  timeline?: FaultTimeline;
  seed: number;
  runtime: string;
}

export function replayCommand(i: Pick<DiagnosticsInput, 'scenarioTag' | 'scenario' | 'seed' | 'runtime'>): string {
  const select = i.scenarioTag ? `--tags '${i.scenarioTag}'` : `--name '${i.scenario.replace(/'/g, "'\\''")}'`;
  return `RBEE_SEED=${i.seed} ./run-integration-tests.sh --runtime ${i.runtime} ${select}`;
}

export async function diagnosticsBundle(i: DiagnosticsInput, maxLinesPerService = 200): Promise<string> {
  const out: string[] = [];
  out.push(`# Diagnostics: ${i.scenario}`);
  out.push(`runtime: ${i.runtime}    seed: ${i.seed}    started: ${new Date(i.startedAt).toISOString()}`);
  out.push(`replay: ${replayCommand(i)}`);
  if (i.error) out.push('', '## Failure (with the last observation of the failing wait)', i.error);
  out.push('', '## Fault timeline', i.timeline ? i.timeline.format() : '(no faults injected)');
  if (i.stack) {
    out.push('', '## Process / container state at failure');
    for (const svc of [...i.stack.running.services.values(), ...(i.stack.running.workerContainers?.() ?? [])]) {
      out.push(await svc.describe().catch((e: Error) => `${svc.name}: state unknown (${e.message})`));
    }
    out.push('', '## Service logs since the scenario started');
    const since = new Date(i.startedAt - 1000).toISOString();
    for (const svc of i.stack.running.services.values()) {
      const lines = serviceLogLines(svc).filter((l) => l.ts >= since);
      const shown = lines.slice(-maxLinesPerService);
      out.push(
        `### ${svc.name} (${lines.length} lines${lines.length > shown.length ? `, last ${shown.length} shown` : ''})`,
      );
      out.push(...shown.map((l) => JSON.stringify(l)));
    }
  } else {
    out.push('', '(the stack never started)');
  }
  const secrets = i.stack ? [i.stack.secrets.serviceToken, i.stack.secrets.jwtPublicKeyPem] : [];
  return redact(out.join('\n'), secrets);
}
