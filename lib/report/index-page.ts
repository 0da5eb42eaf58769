// reports/index.html: the page a newcomer opens first. The verdict line, what each report is for, and
// every scenario that did not pass with why (product, harness, undefined step …) and the command that
// replays it. Plain HTML, no script, nothing fetched.

import { classify } from './classify.ts';
import { redact } from './redact.ts';
import { replayOf } from './replay-of.ts';
import { attemptsByPickle, scenarioId, verdict, type RunModel } from './run-model.ts';
import { summarize, summaryLine } from './summary.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const KIND: Record<string, string> = {
  product: 'product failure',
  harness: 'harness error',
  definition: 'undefined/ambiguous/pending step',
  'not-applied': 'fault did not apply',
  skipped: 'skipped',
  other: 'error',
};

/** `trendCharts`: SVG charts of the kept runs (lib/report/trends.ts), shown under the verdict. */
export function indexPage(run: RunModel, opts: { allure: boolean; runtime?: string; trendCharts?: string[] }): string {
  const s = summarize(run);
  const rows: string[] = [];
  for (const [pickleId, tries] of attemptsByPickle(run)) {
    const v = verdict(tries);
    if (v === 'passed') continue;
    const p = run.pickles.get(pickleId);
    const last = tries.at(-1)!;
    // For a flaky scenario, the attempt that failed is the one worth reading.
    const shown = v === 'flaky' ? (tries.find((a) => classify(a).status !== 'passed') ?? last) : last;
    const c = classify(shown);
    const replay = replayOf(shown, p);
    const why = redact((c.message ?? '').split('\n')[0]!.slice(0, 300));
    rows.push(
      `<tr class="${v}"><td>${v}${tries.length > 1 ? ` (${tries.length} attempts)` : ''}</td><td>${esc(p ? (scenarioId(p.tags) ?? '') : '')}</td>` +
        `<td>${esc(p?.name ?? pickleId)}<br><small>${esc(p?.uri ?? '')}</small></td><td>${esc(KIND[c.kind ?? 'other'] ?? '')}<br><small>${esc(why)}</small></td>` +
        `<td>${replay ? `<code>${esc(replay)}</code>` : ''}</td></tr>`,
    );
  }
  const links = [
    [
      'cucumber.html',
      "every scenario with its steps, errors and attachments (diagnostics are under the failed scenario's hooks)",
    ],
    ...(opts.allure
      ? [
          [
            'allure-report/index.html',
            'Allure: categories (product / harness / not applied), severity, retries and flaky, history across runs',
          ],
        ]
      : []),
    ['junit.xml', 'for CI (flaky runs as &lt;flakyFailure&gt;, diagnostics in &lt;system-out&gt;)'],
    ['messages.ndjson', "cucumber's message stream: the source of truth every report is made from"],
  ];
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rbee acceptance: ${esc(summaryLine(s))}</title>
<style>body{font:14px sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
tr.failed td:first-child{color:#c0392b;font-weight:bold}tr.flaky td:first-child{color:#d68910}code{font-size:12px}</style></head>
<body><h1>${esc(summaryLine(s))}${s.flaky ? ` (${s.flaky} flaky)` : ''}</h1>
<p>${opts.runtime ? `runtime: ${esc(opts.runtime)} · ` : ''}${run.startedAt ? `started ${new Date(run.startedAt).toISOString()}` : ''}</p>
<ul>${links.map(([href, what]) => `<li><a href="${href}">${href}</a>: ${what}</li>`).join('')}</ul>
${rows.length ? `<h2>Not passed</h2><table><tr><th>verdict</th><th>id</th><th>scenario</th><th>why</th><th>replay</th></tr>${rows.join('\n')}</table>` : '<p>Every scenario passed.</p>'}
${opts.trendCharts?.length ? `<h2>Across the kept runs</h2><div>${opts.trendCharts.join('\n')}</div>` : ''}
</body></html>
`;
}
