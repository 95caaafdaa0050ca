'use strict';
// Test keys and tokens, made at test time with node's crypto module only:
// RSA-2048 and EC P-256/P-384 key pairs, their public JWKs, and compact JWS
// tokens signed with them (ES* signatures in JOSE raw R||S form). Also the
// hostile forms the gateway must refuse (alg none, HS256 MACed with the
// public key, tampered parts).
const crypto = require('node:crypto');

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const HASH = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', PS256: 'sha256',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', HS256: 'sha256' };

// Keys are generated as PEM and loaded again: Node 20's key objects made by
// generateKeyPairSync can deadlock a later export({format: 'jwk'}) when a
// garbage collection frees their key-generation job meanwhile (seen: the
// main thread stuck in KeyGenJob's destructor inside ExportJWK).
function makeKey(kind, kid) {
  const opts = kind === 'rsa' ? ['rsa', { modulusLength: 2048 }]
    : ['ec', { namedCurve: { p256: 'P-256', p384: 'P-384', p521: 'P-521' }[kind] }];
  const pems = crypto.generateKeyPairSync(opts[0], Object.assign({}, opts[1], {
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  }));
  const privateKey = crypto.createPrivateKey(pems.privateKey);
  const publicKey = crypto.createPublicKey(pems.publicKey);
  const jwk = publicKey.export({ format: 'jwk' });
  jwk.kid = kid;
  jwk.use = 'sig';
  return { kind, kid, privateKey, publicKey, jwk,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) };
}

function jwks(...keys) { return { keys: keys.map((k) => k.jwk) }; }

// sign({ alg, key, header, claims }) -> compact JWS. header/claims are merged
// over defaults ({alg, typ: 'at+jwt', kid: key.kid}); pass kid: undefined to drop it.
function sign({ alg = 'RS256', key, header = {}, claims = {} }) {
  const h = { alg, typ: 'at+jwt', kid: key && key.kid, ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const input = `${b64u(JSON.stringify(h))}.${b64u(JSON.stringify(claims))}`;
  let sig;
  if (alg === 'none') sig = Buffer.alloc(0);
  else if (alg.startsWith('HS')) sig = crypto.createHmac(HASH[alg], key.secret).update(input).digest();
  else if (alg.startsWith('ES')) sig = crypto.sign(HASH[alg], Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  else if (alg.startsWith('PS')) sig = crypto.sign(HASH[alg], Buffer.from(input), { key: key.privateKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  else sig = crypto.sign(HASH[alg], Buffer.from(input), key.privateKey);
  return `${input}.${b64u(sig)}`;
}

// Claims valid for the next hour unless overridden.
function claims(over = {}) {
  const now = Math.floor(Date.now() / 1000);
  const c = { iss: 'https://login.example.test', aud: 'https://api.example.test', sub: 'user-1',
    iat: now, exp: now + 3600, scope: 'profiles:read', ...over };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

// The classic RS256 -> HS256 confusion: an HMAC keyed with the public key PEM.
function forgeHs256(rsaKey, claimSet) {
  return sign({ alg: 'HS256', key: { kid: rsaKey.kid, secret: rsaKey.publicPem }, claims: claimSet });
}

module.exports = { makeKey, jwks, sign, claims, forgeHs256, b64u };
