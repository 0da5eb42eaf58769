import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History } from '../../lib/workload/history.ts';
import { chaosPictures, jobsOverTimeSvg, latencySamples, OUTCOME_COLOURS } from '../../lib/report/chaos-pictures.ts';

const T0 = 1_700_000_000_000;

/** 60 jobs, one every 100 ms: every outcome represented, slow ones during the first fault. */
function sampleHistory(): History {
  const h = new History();
  for (let k = 0; k < 60; k++) {
    const e = h.recordSubmitted({
      correlationId: `c-${k}`,
      request: { model: 'm', max_tokens: 5 },
      submittedAt: T0 + k * 100,
    });
    const r = k % 10;
    if (r === 3) {
      h.recordAnswer(
        e,
        {
          status: 503,
          headers: {},
          error: {
            status: 503,
            headers: {},
            text: '',
            json: { error: { code: 'NO_CAPACITY', retryable: true } },
            ms: 4,
          },
        },
        4,
      );
      continue;
    }
    h.recordAnswer(e, { status: 200, headers: {} }, 3);
    h.recordEvent(e, { type: 'narration', actor: 'queen-rbee', worker_id: 'w-1', job_id: `j${k}` }, 5);
    h.recordEvent(e, { type: 'token', i: 0 }, 20);
    if (r === 5) continue; // stays pending
    if (r === 7) h.recordEvent(e, { type: 'error', code: 'WORKER_CRASHED', retryable: true }, 30);
    else if (r !== 9) h.recordEvent(e, { type: 'end', tokens_out: 1 }, 30);
    h.recordStreamEnd(e, { done: r !== 9, malformed: [] }, 50 + (k >= 20 && k < 30 ? 1500 : k));
  }
  for (const e of h.open) h.recordAbandoned(e, 'still open', T0 + 8000);
  return h;
}

const windows = [
  { index: 0, kind: 'pause-worker', target: 'worker w-1 on hive-a', start: T0 + 2000, end: T0 + 3000 },
  { index: 1, kind: 'partition-queen-hive', target: 'queen ↔ hive-a & <b>', start: T0 + 2500, end: T0 + 4000 },
];

test('jobs over time: one mark per job coloured by outcome, fault windows shaded and labelled (escaped)', () => {
  const svg = jobsOverTimeSvg(sampleHistory(), windows, { origin: T0, end: T0 + 8000, title: 'CHAOS-001 seed 42' });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && svg.endsWith('</svg>'));
  assert.equal((svg.match(/<circle cx="[\d.]+" cy="[\d.]+" r="2.6"/g) ?? []).length, 54, 'a point per job that ended');
  assert.equal(
    (svg.match(/<path d="M[\d.]+ [\d.]+l6 6m0 -6l-6 6" stroke="#222222" stroke-width="1.5"><title>/g) ?? []).length,
    6,
    'a cross per job that never ended',
  );
  for (const colour of Object.values(OUTCOME_COLOURS))
    assert.ok(svg.includes(`fill="${colour}"`) || svg.includes(`stroke="${colour}"`), colour);
  assert.ok(svg.includes('#0 pause-worker worker w-1 on hive-a'));
  assert.ok(svg.includes('#1 partition-queen-hive queen ↔ hive-a &amp; &lt;b&gt;'));
  assert.ok(!svg.includes('<b>'));
  assert.match(svg, /job #27 c-27: error WORKER_CRASHED \(retryable\), 1\.6 s on w-1/);
  assert.match(svg, /60 jobs · end 36 · refused 6 · pending 6 · error 6 · cut 6 · 2 fault window\(s\)/);
});

test('an empty run still draws', () => {
  const svg = jobsOverTimeSvg([], [], { origin: T0 });
  assert.match(svg, /0 jobs · none · 0 fault window\(s\)/);
  assert.ok(!svg.includes('NaN'));
});

test('chaosPictures: the jobs picture and the latency histogram of the chosen measure', () => {
  const h = sampleHistory();
  const pictures = chaosPictures(h, windows, { origin: T0, measure: 'admission' });
  assert.deepEqual(
    pictures.map((p) => p.fileName),
    ['chaos-jobs-over-time.svg', 'chaos-latency-admission.svg'],
  );
  assert.match(pictures[1]!.svg, /Admission latency \(time to first byte\)/);
  assert.match(pictures[1]!.svg, /60 samples/);
  assert.equal(latencySamples(h, 'total').length, 42, 'jobs that reached end or error');
  assert.ok(pictures.every((p) => !p.svg.includes('NaN')));
});
