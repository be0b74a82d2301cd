// Verifies PaySeal entitlements documents (typ payseal-entitlements+jwt) with `jose`, using only the
// published JWKS (GET /v1/keys), as an application server that fetched them does.
// Usage: node entitlements.mjs JWKS_FILE ISSUER APP DIR VERDICT_TOKEN_FILE
// DIR holds entitlements-alice.jwt / entitlements-bob.jwt and the nonce each was asked with
// (entitlements-*.nonce; scripts/lib/interop-demo.sh fetches them). Each document must verify
// (EdDSA only, its typ, the issuer) and carry the nonce asked, the app and the account; alice's
// names premium granted by her App Store pro_monthly subscription (period end in the future),
// bob's nothing. A document with an entitlement added, alg HS256 or none, an unknown kid, or
// checked against another request's nonce must be refused; so must a verdict token presented as
// a document, and a document presented as a verdict (their typ differ).
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, issuer, app, dir, verdictFile] = process.argv.slice(2);
if (!jwksFile || !issuer || !app || !dir || !verdictFile) {
  console.error('usage: node entitlements.mjs JWKS_FILE ISSUER APP DIR VERDICT_TOKEN_FILE');
  process.exit(2);
}
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile)));
const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const unb64 = (part) => JSON.parse(Buffer.from(part, 'base64url'));
const read = (name) => readFileSync(`${dir}/${name}`, 'utf8').trim();

// What an application server does with a document it asked for with `nonce` about `account`.
class WrongRequest extends Error { constructor(m) { super(m); this.code = 'WRONG_REQUEST'; } }
async function checkEntitlements(token, nonce, account, typ = 'payseal-entitlements+jwt') {
  const { payload } = await jwtVerify(token, jwks, { algorithms: ['EdDSA'], typ, issuer, maxTokenAge: '10m' });
  if (payload.nonce !== nonce) throw new WrongRequest('another request (nonce)');
  if (payload.app !== app || payload.sub !== account) throw new WrongRequest('another app or account');
  if (!Array.isArray(payload.entitlements) || !Number.isInteger(payload.as_of)) throw new WrongRequest('not a document');
  return payload;
}

let passed = 0;
let failed = 0;
const result = (ok, line) => {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${line}`);
};
const expect = async (name, run, want, claimsOk = () => true) => {
  try {
    const payload = await run();
    result(want === true && claimsOk(payload), want === true ? name : `${name}: verified but should not have`);
  } catch (e) {
    const ok = want !== true && e.code === want;
    result(ok, ok ? `${name} (refused: ${e.code})` : `${name}: ${e.code ?? ''} ${e.message}`);
  }
};

const docs = Object.fromEntries(['alice', 'bob'].map((a) => [a, { token: read(`entitlements-${a}.jwt`), nonce: read(`entitlements-${a}.nonce`) }]));
const aliceOk = (c) => c.entitlements.some((e) => e.name === 'premium' && e.product_id === 'pro_monthly'
  && e.store === 'app_store' && e.kind === 'subscription' && Number.isInteger(e.expires_at) && e.expires_at > Date.now())
  && c.entitlements.every((e) => e.name === 'premium');
await expect('alice: genuine document verifies, premium from pro_monthly', () => checkEntitlements(docs.alice.token, docs.alice.nonce, 'alice'), true, aliceOk);
await expect('bob: genuine document verifies, no entitlement', () => checkEntitlements(docs.bob.token, docs.bob.nonce, 'bob'), true, (c) => c.entitlements.length === 0);

const [h, p, s] = docs.bob.token.split('.');
const header = unb64(h);
const payload = unb64(p);
const forged = { ...payload, entitlements: [{ name: 'premium', product_id: 'pro_monthly', store: 'app_store', transaction_key: '1', since: payload.as_of }] };
await expect('bob: premium added refused', () => checkEntitlements(`${h}.${b64(forged)}.${s}`, docs.bob.nonce, 'bob'), 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
await expect('bob: alg HS256 refused', () => checkEntitlements(`${b64({ ...header, alg: 'HS256' })}.${p}.${s}`, docs.bob.nonce, 'bob'), 'ERR_JOSE_ALG_NOT_ALLOWED');
await expect('bob: alg none refused', () => checkEntitlements(`${b64({ ...header, alg: 'none' })}.${p}.`, docs.bob.nonce, 'bob'), 'ERR_JOSE_ALG_NOT_ALLOWED');
await expect('bob: unknown kid refused', () => checkEntitlements(`${b64({ ...header, kid: 'attacker' })}.${p}.${s}`, docs.bob.nonce, 'bob'), 'ERR_JWKS_NO_MATCHING_KEY');
await expect("alice's document against bob's request (nonce) refused", () => checkEntitlements(docs.alice.token, docs.bob.nonce, 'alice'), 'WRONG_REQUEST');
await expect("alice's document as bob's refused", () => checkEntitlements(docs.alice.token, docs.alice.nonce, 'bob'), 'WRONG_REQUEST');
await expect('a verdict presented as a document refused (typ)', () => checkEntitlements(readFileSync(verdictFile, 'utf8').trim(), docs.bob.nonce, 'bob'), 'ERR_JWT_CLAIM_VALIDATION_FAILED');
await expect('a document presented as a verdict refused (typ)', () => checkEntitlements(docs.bob.token, docs.bob.nonce, 'bob', 'payseal-verdict+jwt'), 'ERR_JWT_CLAIM_VALIDATION_FAILED');

console.log(`jose entitlements: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
