// Verifies PaySeal verdict tokens with `jose` using only the published JWKS (GET /v1/keys).
// Usage: node verify.mjs JWKS_FILE ISSUER TOKEN_FILE...
// Each token must verify (EdDSA only, typ payseal-verdict+jwt, issuer); each tampered copy of it
// (payload byte changed, alg switched to HS256/none, unknown kid) must be refused.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, issuer, ...tokenFiles] = process.argv.slice(2);
if (!jwksFile || !issuer || tokenFiles.length === 0) {
  console.error('usage: node verify.mjs JWKS_FILE ISSUER TOKEN_FILE...');
  process.exit(2);
}
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
const options = { algorithms: ['EdDSA'], typ: 'payseal-verdict+jwt', issuer };
const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

let passed = 0;
let failed = 0;
const expect = async (name, token, shouldVerify, check = () => true) => {
  try {
    const { payload } = await jwtVerify(token, jwks, options);
    if (shouldVerify && check(payload)) { passed++; console.log(`ok   ${name}`); }
    else { failed++; console.log(`FAIL ${name}: verified but should not have`); }
  } catch (e) {
    if (!shouldVerify) { passed++; console.log(`ok   ${name} (refused: ${e.code ?? e.message})`); }
    else { failed++; console.log(`FAIL ${name}: ${e.code ?? ''} ${e.message}`); }
  }
};

for (const file of tokenFiles) {
  const token = readFileSync(file, 'utf8').trim();
  const [h, p, s] = token.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  await expect(`${file}: genuine token verifies`, token, true,
    (claims) => claims.outcome === payload.outcome && claims.receipt_sha256 === payload.receipt_sha256);
  await expect(`${file}: altered outcome refused`, `${h}.${b64({ ...payload, outcome: payload.outcome === 'paid' ? 'not_paid' : 'paid' })}.${s}`, false);
  await expect(`${file}: alg HS256 refused`, `${b64({ ...header, alg: 'HS256' })}.${p}.${s}`, false);
  await expect(`${file}: alg none refused`, `${b64({ ...header, alg: 'none' })}.${p}.`, false);
  await expect(`${file}: unknown kid refused`, `${b64({ ...header, kid: 'attacker' })}.${p}.${s}`, false);
}
console.log(`jose: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
