// One set of reports from the shards of a run (`npm run reports -- merge OUT DIR…`): each shard ran
// `cucumber-js --shard i/n` on its own machine and wrote its reports directory; the merge writes one
// message stream, as if one run had run every shard's scenarios, and from it the usual reports (cucumber
// HTML, JUnit, index, Allure with the first shard's history).
//
// Every shard's stream holds every feature and every pickle (cucumber parses them all and runs its share),
// each with ids of its own making. The merged stream keeps the first shard's sources, documents and
// pickles, and maps each later shard's pickle and pickle-step ids onto them (same files, parsed in the same
// order: the n-th pickle of a file is the same scenario); its test cases, steps, hooks, step definitions
// and attachments keep their own ids, which no other shard uses. One testRunStarted (the earliest, whose id
// every test case then names) and one testRunFinished (the latest; success only if every shard's was).

import fs from 'node:fs';
import path from 'node:path';

interface Envelope {
  [kind: string]: any;
}

const DEFINITIONS = new Set(['meta', 'source', 'gherkinDocument', 'pickle', 'parameterType', 'parseError']);

function read(dir: string): Envelope[] {
  const file = path.join(dir, 'messages.ndjson');
  if (!fs.existsSync(file)) throw new Error(`${dir} holds no messages.ndjson: not a shard's reports directory`);
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Envelope);
}

const kindOf = (e: Envelope) => Object.keys(e)[0]!;

/** The merged message stream (NDJSON) of the shards' streams, in the order given. */
export function mergeStreams(shards: Envelope[][]): string {
  if (!shards.length) throw new Error('no shard to merge');
  const [first, ...rest] = shards;
  const out: Envelope[] = [];
  const picklesOf = (s: Envelope[]) => s.filter((e) => e.pickle).map((e) => e.pickle);
  const basePickles = picklesOf(first!);
  const baseByUri = groupByUri(basePickles);
  const started = shards.map((s) => s.find((e) => e.testRunStarted)?.testRunStarted).filter(Boolean);
  const finished = shards.map((s) => s.find((e) => e.testRunFinished)?.testRunFinished).filter(Boolean);
  const firstStart = started.reduce((a, b) => (ts(b.timestamp) < ts(a.timestamp) ? b : a), started[0]);
  const runId: string | undefined = firstStart?.id;

  for (const e of first!) if (DEFINITIONS.has(kindOf(e))) out.push(e);
  if (firstStart) out.push({ testRunStarted: firstStart });
  shards.forEach((shard, k) => {
    const ids = new Map<string, string>();
    if (k > 0) {
      for (const [uri, pickles] of groupByUri(picklesOf(shard))) {
        const base = baseByUri.get(uri) ?? [];
        if (base.length !== pickles.length)
          throw new Error(
            `shard ${k + 1} parsed ${uri} into ${pickles.length} scenarios, shard 1 into ${base.length}: not the same tree`,
          );
        pickles.forEach((p, i) => {
          ids.set(p.id, base[i].id);
          (p.steps ?? []).forEach((st: { id: string }, j: number) => ids.set(st.id, base[i].steps[j].id));
        });
      }
    }
    const ownRun = shard.find((e) => e.testRunStarted)?.testRunStarted?.id;
    if (ownRun && runId) ids.set(ownRun, runId);
    for (const e of shard) {
      const kind = kindOf(e);
      if (DEFINITIONS.has(kind) || kind === 'testRunStarted' || kind === 'testRunFinished') continue;
      out.push(ids.size ? remap(e, ids) : e);
    }
  });
  if (finished.length) {
    const last = finished.reduce((a, b) => (ts(b.timestamp) > ts(a.timestamp) ? b : a), finished[0]);
    out.push({
      testRunFinished: {
        ...last,
        ...(runId ? { testRunStartedId: runId } : {}),
        success: finished.every((f) => f.success),
      },
    });
  }
  return out.map((e) => JSON.stringify(e)).join('\n') + '\n';
}

/** Merge shard report directories into `outDir`: the stream, the Allure results, the first history. */
export function mergeShardDirs(outDir: string, shardDirs: string[]): { scenarios: number } {
  const text = mergeStreams(shardDirs.map(read));
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'messages.ndjson'), text);
  const results = path.join(outDir, 'allure-results');
  fs.rmSync(results, { recursive: true, force: true });
  for (const dir of shardDirs) {
    const from = path.join(dir, 'allure-results');
    if (!fs.existsSync(from)) continue;
    fs.mkdirSync(results, { recursive: true });
    for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(results, f)); // uuid names
  }
  for (const f of ['allure-history.jsonl', 'trends.jsonl']) {
    const src = shardDirs.map((d) => path.join(d, f)).find((p) => fs.existsSync(p));
    if (src && !fs.existsSync(path.join(outDir, f))) fs.copyFileSync(src, path.join(outDir, f));
  }
  return { scenarios: text.split('\n').filter((l) => l.startsWith('{"testCase":')).length };
}

function groupByUri(pickles: any[]): Map<string, any[]> {
  const m = new Map<string, any[]>();
  for (const p of pickles) m.set(p.uri, [...(m.get(p.uri) ?? []), p]);
  return m;
}

function ts(t: { seconds: number; nanos: number } | undefined): number {
  return t ? t.seconds * 1e9 + t.nanos : 0;
}

/** The envelope with every id string the map knows replaced (ids are UUIDs: no accidental match). */
function remap(e: Envelope, ids: Map<string, string>): Envelope {
  return JSON.parse(JSON.stringify(e), (_k, v) => (typeof v === 'string' && ids.has(v) ? ids.get(v) : v));
}

/** cucumber.html for a message stream, as cucumber's own html formatter writes it. */
export async function writeCucumberHtml(messagesFile: string, htmlFile: string): Promise<void> {
  const { CucumberHtmlStream } = await import('@cucumber/html-formatter');
  const html = new CucumberHtmlStream();
  const out = fs.createWriteStream(htmlFile);
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', () => resolve());
    out.on('error', reject);
    html.on('error', reject);
  });
  html.pipe(out);
  for (const line of fs.readFileSync(messagesFile, 'utf8').split('\n')) if (line.trim()) html.write(JSON.parse(line));
  html.end();
  await done;
}
