// Secrets never reach a report: known secret values are replaced, and anything shaped like a bearer
// token or a JWT is masked as a second line of defence.

const JWT_RE = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b/g;
const BEARER_RE = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

export function redact(text: string, secrets: string[] = []): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 8) continue;
    // Also as quoted inside a JSON log line (a PEM's newlines become \n), and line by line (a PEM body
    // reflowed or quoted in part).
    const forms = [s, JSON.stringify(s).slice(1, -1), ...s.split('\n').filter((l) => l.length >= 16)];
    for (const f of forms) out = out.split(f).join('[REDACTED]');
  }
  return out.replace(JWT_RE, '[REDACTED-JWT]').replace(BEARER_RE, '$1[REDACTED]');
}
