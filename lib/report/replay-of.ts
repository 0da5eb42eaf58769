// The command that replays a scenario, as the report of an attempt can tell it: the diagnostics bundle's
// `replay:` line when there is one, else rebuilt from the seed and runtime the Before hook attached.

import { replayCommand } from './diagnostics.ts';
import { attachmentText, scenarioId, type Attempt, type PickleInfo } from './run-model.ts';

export function replayOf(a: Attempt, p?: PickleInfo): string | undefined {
  const text = a.attachments.map(attachmentText).join('\n');
  const line = text.match(/^replay: (.+)$/m)?.[1];
  if (line) return line;
  const info = text.match(/^runtime: (\w+); run \S+; seed (\d+)$/m);
  if (!info || !p) return undefined;
  const id = scenarioId(p.tags);
  return replayCommand({
    runtime: info[1]!,
    seed: Number(info[2]),
    scenario: p.name,
    ...(id ? { scenarioTag: `@${id}` } : {}),
  });
}
