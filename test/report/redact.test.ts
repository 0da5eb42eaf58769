import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redact } from '../../lib/report/redact.ts';

const PEM =
  '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEADraBtQe1WoYidqpx1xseE4yw4aR+b9t+/8PWyGHkuAA=\n-----END PUBLIC KEY-----\n';

test('redact: a multi-line secret is removed as written, as quoted in a JSON log line, and line by line', () => {
  const logLine = JSON.stringify({ ts: 't', msg: `key ${PEM}` });
  for (const text of [PEM, logLine, `body only: MCowBQYDK2VwAyEADraBtQe1WoYidqpx1xseE4yw4aR+b9t+/8PWyGHkuAA=`]) {
    assert.doesNotMatch(redact(text, [PEM]), /MCowBQYDK2VwAyEA/, text);
  }
});
