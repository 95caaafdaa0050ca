// Mints the seed tokens of tests/fuzz/corpus/jwt (see fuzz_jwt.c).
//
//   node tests/fuzz/gen-jwt-seeds.js KEYDIR [OUTDIR]
//
// KEYDIR holds rsa.pem (RSA 2048) and ec.pem (P-256), the private halves of
// the keys whose public JWKs are EMBEDDED_JWKS in fuzz_jwt.c. They were made
// with openssl genpkey (commands in fuzz_jwt.c) and NOT kept: to re-mint,
// make a fresh pair in an empty KEYDIR (this script does it when the files
// are missing), paste the printed JWKS keys into EMBEDDED_JWKS_KEYS, and
// replace the corpus. Time in the tokens is relative to the driver's fixed
// NOW (1700000000), so the seeds never expire. OUTDIR defaults to
// tests/fuzz/corpus/jwt.
const fs = require("fs"), crypto = require("crypto"), path = require("path");
const dir = process.argv[2];
if (!dir) { console.error("usage: node gen-jwt-seeds.js KEYDIR [OUTDIR]"); process.exit(2); }
const out = process.argv[3] || path.join(__dirname, "corpus", "jwt");
const pem = (f, gen) => {
  const p = path.join(dir, f);
  if (!fs.existsSync(p)) fs.writeFileSync(p, gen().privateKey.export({ type: "pkcs8", format: "pem" }));
  return crypto.createPrivateKey(fs.readFileSync(p));
};
const rsa = pem("rsa.pem", () => crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }));
const ec = pem("ec.pem", () => crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }));
const pub = (k, extra) => Object.assign(extra, crypto.createPublicKey(k).export({ format: "jwk" }));
console.log(JSON.stringify(pub(rsa, { kid: "fuzz-rsa", use: "sig", alg: "RS256" })));
console.log(JSON.stringify(pub(ec, { kid: "fuzz-ec", use: "sig", alg: "ES256" })));
const NOW = 1700000000;
const b = (x) => Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");
function tok(h, p, sign) {
  const si = b(h) + "." + b(p);
  return si + "." + (sign ? sign(Buffer.from(si)).toString("base64url") : "");
}
const rs = (m) => crypto.sign("sha256", m, rsa);
const es = (m) => crypto.sign("sha256", m, { key: ec, dsaEncoding: "ieee-p1363" });
const base = { iss: "https://issuer.example", aud: "https://api.example", exp: NOW + 3600,
               iat: NOW - 60, sub: "user-1", scope: "read write unknown" };
const T = {
  rs256_ok: tok({ alg: "RS256", kid: "fuzz-rsa", typ: "JWT" }, base, rs),
  es256_ok: tok({ alg: "ES256", kid: "fuzz-ec", typ: "at+jwt" },
                { ...base, aud: ["urn:other", "https://api.example"], scope: undefined,
                  scp: ["read", "admin"], client_id: "user-1", nbf: NOW - 10 }, es),
  es256_nokid_m2m: tok({ alg: "ES256" }, { ...base, gty: "client-credentials", exp: NOW + 0.5,
                                          iat: 1699999999.75, amount: 1.5 }, es),
  strict_issuer: tok({ alg: "ES256", kid: "fuzz-ec", typ: "application/at+jwt" },
                     { ...base, iss: "https://strict.example", scp: "mcp:tools" }, es),
  expired: tok({ alg: "RS256", kid: "fuzz-rsa" }, { ...base, exp: NOW - 3600 }, rs),
  alg_none: tok({ alg: "none", typ: "JWT" }, base, null),
  hs256_confusion: tok({ alg: "HS256", kid: "fuzz-rsa" }, base,
      (m) => crypto.createHmac("sha256", crypto.createPublicKey(rsa).export({ type: "spki", format: "pem" })).update(m).digest()),
  crit: tok({ alg: "RS256", kid: "fuzz-rsa", crit: ["exp"] }, base, rs),
  unknown_kid: tok({ alg: "RS256", kid: "nope" }, base, rs),
  no_keyset: tok({ alg: "RS256", kid: "fuzz-rsa" }, { ...base, iss: "https://nokeys.example" }, rs),
  alg_mismatch: tok({ alg: "ES256", kid: "fuzz-rsa" }, base, es),
  es384_alg: tok({ alg: "ES384", kid: "fuzz-ec" }, base, es),
  jku_x5u: tok({ alg: "RS256", kid: "fuzz-rsa", jku: "https://evil.example/jwks", jwk: { kty: "oct", k: "AA" } }, base, rs),
  dup_claims: b({ alg: "RS256" }) + "." + Buffer.from('{"iss":"https://issuer.example","iss":"x"}').toString("base64url") + ".AA",
};
for (const [k, v] of Object.entries(T)) fs.writeFileSync(`${out}/${k}.jwt`, v);
// Signed-mode seeds: 0x00 header-JSON 0x00 payload-JSON (the driver signs them).
const S = {
  signed_ok: [{ alg: "ES384", kid: "fuzz-signer", typ: "at+jwt" }, { ...base, scp: ["read", "x"], client_id: "user-1" }],
  signed_strict: [{ alg: "ES384", kid: "fuzz-signer", typ: "at+jwt" }, { ...base, iss: "https://strict.example", scope: "admin  read" }],
  signed_types: [{ alg: "ES384", kid: "fuzz-signer" }, { ...base, exp: 1.7e9 + 100.25, nbf: "x", aud: 5 }],
  signed_numbers: [{ alg: "ES384", kid: "fuzz-signer" }, { ...base, n: 12345678901234, r: 0.1, e: -1e300, sub: "a\u0001b" }],
};
for (const [k, [h, p]] of Object.entries(S))
  fs.writeFileSync(`${out}/${k}.bin`, Buffer.concat([Buffer.from([0]), Buffer.from(JSON.stringify(h)), Buffer.from([0]), Buffer.from(JSON.stringify(p))]));
