// Client JWTs (contract §0): verified against RBEE_JWT_PUBLIC_KEY (EdDSA or RS256), `aud` must be `rbee`,
// `exp` is required. A bad token is a 401 INVALID_TOKEN whose message says why (expired, audience,
// signature, …) so a client can tell what to fix.

import fs from 'node:fs';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify, errors } from 'jose';
import { HttpError, type Identity } from '../shared/http.ts';

export const JWT_AUDIENCE = 'rbee';

/** Accepts the PEM itself (literal `\n` escapes allowed) or a path to a PEM file. */
export function loadPublicKey(pemOrPath: string): { key: KeyObject; alg: string } {
  let pem = pemOrPath.includes('-----BEGIN') ? pemOrPath : fs.readFileSync(pemOrPath, 'utf8');
  pem = pem.replace(/\\n/g, '\n');
  const key = createPublicKey(pem);
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return { key, alg: 'EdDSA' };
    case 'rsa':
      return { key, alg: 'RS256' };
    default:
      throw new Error(`RBEE_JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType} (expected Ed25519 or RSA)`);
  }
}

export function jwtVerifier(pemOrPath: string): (bearer: string) => Promise<Identity> {
  const { key, alg } = loadPublicKey(pemOrPath);
  return async (bearer) => {
    try {
      const { payload } = await jwtVerify(bearer, key, {
        audience: JWT_AUDIENCE,
        requiredClaims: ['exp'],
        algorithms: [alg],
      });
      const scope = Array.isArray(payload.scope)
        ? payload.scope.join(' ')
        : typeof payload.scope === 'string'
          ? payload.scope
          : undefined;
      return { subject: typeof payload.sub === 'string' ? payload.sub : undefined, scope };
    } catch (e) {
      throw new HttpError(
        401,
        'INVALID_TOKEN',
        `invalid token: ${reason(e)}`,
        {},
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      );
    }
  };
}

function reason(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'token expired (exp is in the past)';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'aud') return `wrong audience (expected "${JWT_AUDIENCE}")`;
    if (e.claim === 'exp') return 'missing exp claim (expiry is required)';
    return `claim "${e.claim}" rejected: ${e.reason}`;
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (e instanceof errors.JOSEAlgNotAllowed) return 'signature algorithm not allowed for this key';
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid)
    return `malformed token (${(e as Error).message})`;
  return (e as Error)?.message ?? String(e);
}
