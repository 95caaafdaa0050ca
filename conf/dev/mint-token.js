#!/usr/bin/env node
'use strict';
// Prints a demo access token signed with the bundled development keys.
//   node conf/dev/mint-token.js [--scope "profiles:read tags:manage"] [--sub user-42]
//                               [--client-id demo] [--m2m] [--ttl 3600] [--alg RS256|ES256]
// --m2m makes a client-credentials token (sub = client_id).
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const o = { scope: 'profiles:read tags:manage', sub: 'user-42', clientId: 'demo', m2m: false, ttl: 3600, alg: 'RS256',
  iss: 'https://login.profilebehavior.com', aud: 'https://vanguard.profilebehavior.com' };
const USAGE = `usage: node conf/dev/mint-token.js [options]
Prints a demo access token signed with the bundled development keys
(never trusted in production).
  --scope "a b"     scopes (default "profiles:read tags:manage")
  --sub ID          subject of a user token (default user-42)
  --client-id ID    client_id claim (default demo)
  --m2m             a client-credentials token: sub = client_id
  --ttl SECONDS     lifetime (default 3600)
  --alg RS256|ES256 signing key (default RS256)
  --aud URL         audience (default https://vanguard.profilebehavior.com)
  -h, --help        this text
`;
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i++) {
  const v = () => a[++i];
  switch (a[i]) {
    case '--scope': o.scope = v(); break;
    case '--sub': o.sub = v(); break;
    case '--client-id': o.clientId = v(); break;
    case '--m2m': o.m2m = true; break;
    case '--ttl': o.ttl = Number(v()); break;
    case '--alg': o.alg = v(); break;
    case '--aud': o.aud = v(); break;
    case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
    default: process.stderr.write(`unknown argument ${a[i]}\n${USAGE}`); process.exit(2);
  }
}
const es = o.alg === 'ES256';
const key = fs.readFileSync(path.join(__dirname, es ? 'ec_private.pem' : 'rsa_private.pem'));
const now = Math.floor(Date.now() / 1000);
const header = { alg: o.alg, typ: 'at+jwt', kid: es ? 'dev-es256-1' : 'dev-rs256-1' };
const claims = { iss: o.iss, aud: o.aud, sub: o.m2m ? o.clientId : o.sub, client_id: o.clientId,
  scope: o.scope, iat: now, exp: now + o.ttl, jti: crypto.randomUUID() };
const b = (x) => Buffer.from(JSON.stringify(x)).toString('base64url');
const input = `${b(header)}.${b(claims)}`;
const sig = crypto.sign('sha256', Buffer.from(input), es ? { key, dsaEncoding: 'ieee-p1363' } : key);
process.stdout.write(`${input}.${sig.toString('base64url')}\n`);
