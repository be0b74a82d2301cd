// Verifies PaySeal verdict tokens with `jose` using only the published JWKS (GET /v1/keys).
// Usage: node verify.mjs JWKS_FILE ISSUER TOKEN_FILE...
// Each token must verify (EdDSA only, typ payseal-verdict+jwt, issuer); each tampered copy of it
// (payload byte changed, alg switched to HS256/none, unknown kid) must be refused, and so
// must the genuine token when another issuer is expected, each with the expected jose error code.
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
// want: true (must verify) or the jose error code the refusal must carry.
const expect = async (name, token, want, check = () => true, opts = options) => {
  try {
    const { payload } = await jwtVerify(token, jwks, opts);
    if (want === true && check(payload)) { passed++; console.log(`ok   ${name}`); }
    else { failed++; console.log(`FAIL ${name}: verified but should not have`); }
  } catch (e) {
    if (want !== true && e.code === want) { passed++; console.log(`ok   ${name} (refused: ${e.code})`); }
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
  await expect(`${file}: altered outcome refused`, `${h}.${b64({ ...payload, outcome: payload.outcome === 'paid' ? 'not_paid' : 'paid' })}.${s}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  await expect(`${file}: alg HS256 refused`, `${b64({ ...header, alg: 'HS256' })}.${p}.${s}`, 'ERR_JOSE_ALG_NOT_ALLOWED');
  await expect(`${file}: alg none refused`, `${b64({ ...header, alg: 'none' })}.${p}.`, 'ERR_JOSE_ALG_NOT_ALLOWED');
  await expect(`${file}: unknown kid refused`, `${b64({ ...header, kid: 'attacker' })}.${p}.${s}`, 'ERR_JWKS_NO_MATCHING_KEY');
  await expect(`${file}: another issuer expected, refused`, token, 'ERR_JWT_CLAIM_VALIDATION_FAILED', undefined,
    { ...options, issuer: 'https://other.example' });
}
console.log(`jose: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
