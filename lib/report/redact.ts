// Secrets never reach a report: known secret values are replaced, and anything shaped like a bearer
// token or a JWT is masked as a second line of defence.

const JWT_RE = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b/g;
const BEARER_RE = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

export function redact(text: string, secrets: string[] = []): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 8) out = out.split(s).join('[REDACTED]');
  return out.replace(JWT_RE, '[REDACTED-JWT]').replace(BEARER_RE, '$1[REDACTED]');
}
