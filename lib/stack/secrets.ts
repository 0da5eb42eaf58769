// Per-stack secrets: a fresh service token and a fresh JWT signing key pair for every stack.
// They live only in this process and in the services' environment; reports redact them (lib/report/redact.ts).

import { randomBytes } from 'node:crypto';
import { SignJWT, exportSPKI, generateKeyPair, type CryptoKey, type KeyObject } from 'jose';

export interface StackSecrets {
  serviceToken: string;
  jwtPublicKeyPem: string;
  /** Sign a client JWT; options let scenarios make bad ones on purpose. */
  signJwt(claims: JwtClaims): Promise<string>;
}

export interface JwtClaims {
  sub: string;
  scope?: string;
  aud?: string;
  /** Seconds from now; negative = already expired. */
  expiresInSec?: number;
  /** Sign with an unrelated key (a forged token). */
  foreignKey?: boolean;
}

type SigningKey = CryptoKey | KeyObject;

export async function makeSecrets(): Promise<StackSecrets> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  let foreign: SigningKey | undefined;
  return {
    serviceToken: randomBytes(24).toString('base64url'),
    jwtPublicKeyPem: await exportSPKI(publicKey),
    async signJwt(c) {
      if (c.foreignKey && !foreign) foreign = (await generateKeyPair('EdDSA')).privateKey;
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({ ...(c.scope ? { scope: c.scope } : {}) })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setSubject(c.sub)
        .setAudience(c.aud ?? 'rbee')
        .setIssuedAt(now - 5)
        .setExpirationTime(now + (c.expiresInSec ?? 300));
      return jwt.sign(c.foreignKey ? foreign! : privateKey);
    },
  };
}
