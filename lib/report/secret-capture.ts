// For the test that proves no secret reaches a report: with RBEE_DEBUG_SECRETS_FILE set, every stack's
// service token, JWT public key and each JWT a step signs are appended to that file (one JSON line each),
// so the test can grep the reports for the real values. With RBEE_DEBUG_PLANT_SECRETS=1 they are also
// written into each service's log, as a service that leaks its credentials would, so the test proves
// the diagnostics redact them rather than merely never meeting them. Never set outside that test.

import fs from 'node:fs';
import type { StackSecrets } from '../stack/secrets.ts';

export function captureSecrets(file: string, secrets: StackSecrets, plantInto: string[] = []): void {
  const note = (kind: string, value: string) => {
    fs.appendFileSync(file, JSON.stringify({ kind, value }) + '\n', { mode: 0o600 });
    for (const log of plantInto) {
      const line = {
        ts: new Date().toISOString(),
        level: 'debug',
        service: 'leak-drill',
        msg: `leaked ${kind}: Authorization: Bearer ${value}`,
        event: 'selftest.leak',
        [kind]: value,
      };
      fs.appendFileSync(log, JSON.stringify(line) + '\n');
    }
  };
  note('serviceToken', secrets.serviceToken);
  note('jwtPublicKeyPem', secrets.jwtPublicKeyPem);
  const sign = secrets.signJwt.bind(secrets);
  secrets.signJwt = async (claims) => {
    const jwt = await sign(claims);
    note('jwt', jwt);
    return jwt;
  };
}

export function readCapturedSecrets(file: string): Array<{ kind: string; value: string }> {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
