// Verifies PaySeal verdict tokens with `jose` using only the published JWKS (GET /v1/keys), through
// the book's Node recipe (grant.mjs).
// Usage: node verify.mjs JWKS_FILE ISSUER APP TOKEN_FILE...
// Each token must verify (EdDSA only, typ payseal-verdict+jwt, issuer); each tampered copy of it
// (payload byte changed, alg switched to HS256/none, unknown kid) must be refused, and so
// must the genuine token when another issuer is expected, each with the expected jose error code.
// Then the book's grant, with the JWKS served on 127.0.0.1 to jose's createRemoteJWKSet: not-paid
// refused; of the paid tokens, the first of each purchase (store + transaction_id) delivers it and
// every later one (re-verifications: fresh jti, redemption repeat) is "already delivered"; a used
// token is "replayed"; another app is refused; the tokens of one purchase granted all at once
// deliver it once.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createLocalJWKSet, createRemoteJWKSet } from 'jose';
import { check, grant, MemoryOnce } from './grant.mjs';

const [jwksFile, issuer, app, ...tokenFiles] = process.argv.slice(2);
if (!jwksFile || !issuer || !app || tokenFiles.length === 0) {
  console.error('usage: node verify.mjs JWKS_FILE ISSUER APP TOKEN_FILE...');
  process.exit(2);
}
const jwksDocument = readFileSync(jwksFile);
const jwks = createLocalJWKSet(JSON.parse(jwksDocument));
const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const unb64 = (part) => JSON.parse(Buffer.from(part, 'base64url'));

let passed = 0;
let failed = 0;
const result = (ok, line) => {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${line}`);
};
// want: true (must verify) or the jose error code the refusal must carry.
const expect = async (name, token, want, claimsOk = () => true, iss = issuer) => {
  try {
    const payload = await check(token, jwks, iss);
    result(want === true && claimsOk(payload), want === true ? name : `${name}: verified but should not have`);
  } catch (e) {
    const ok = want !== true && e.code === want;
    result(ok, ok ? `${name} (refused: ${e.code})` : `${name}: ${e.code ?? ''} ${e.message}`);
  }
};

// Subscriptions: a verified subscription token's `kind` and `expires_at` (Unix ms, the end of the
// paid period, not the token's `exp`): paid → in the future; not_paid/expired → in the past.
const subscriptions = { paid: 0, expired: 0 };
const subscriptionOk = (c) => {
  if (c.kind === undefined) return true;
  if (!['consumable', 'non_consumable', 'subscription'].includes(c.kind)) return false;
  if (c.kind !== 'subscription' || c.expires_at === undefined) return true;
  if (!Number.isInteger(c.expires_at) || c.expires_at <= c.exp) return false;
  if (c.outcome === 'paid') { subscriptions.paid++; return c.expires_at > Date.now(); }
  if (c.reason === 'expired') { subscriptions.expired++; return c.expires_at <= Date.now(); }
  return true;
};

// Protocol v2: `subscription_state` (one vocabulary for both stores) and `store_checked` (a
// boolean), when present; the paid token in its grace period and the not_paid/on_hold one.
const states = ['active', 'in_grace_period', 'on_hold', 'paused', 'canceled', 'expired', 'pending'];
const v2 = { grace: 0, onHold: 0 };
const v2Ok = (c) => {
  if (c.subscription_state === undefined && c.store_checked === undefined) return true;
  if (!states.includes(c.subscription_state) || typeof c.store_checked !== 'boolean') return false;
  if (c.outcome === 'paid' && c.subscription_state === 'in_grace_period' && c.store_checked === true) v2.grace++;
  if (c.outcome === 'not_paid' && c.reason === 'on_hold' && c.store_checked === false) v2.onHold++;
  return true;
};

const tokens = tokenFiles.map((file) => ({ file, token: readFileSync(file, 'utf8').trim() }));
for (const { file, token } of tokens) {
  const [h, p, s] = token.split('.');
  const header = unb64(h);
  const payload = unb64(p);
  await expect(`${file}: genuine token verifies`, token, true,
    (claims) => claims.outcome === payload.outcome && claims.receipt_sha256 === payload.receipt_sha256
      && subscriptionOk(claims) && v2Ok(claims));
  await expect(`${file}: altered outcome refused`, `${h}.${b64({ ...payload, outcome: payload.outcome === 'paid' ? 'not_paid' : 'paid' })}.${s}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  await expect(`${file}: alg HS256 refused`, `${b64({ ...header, alg: 'HS256' })}.${p}.${s}`, 'ERR_JOSE_ALG_NOT_ALLOWED');
  await expect(`${file}: alg none refused`, `${b64({ ...header, alg: 'none' })}.${p}.`, 'ERR_JOSE_ALG_NOT_ALLOWED');
  await expect(`${file}: unknown kid refused`, `${b64({ ...header, kid: 'attacker' })}.${p}.${s}`, 'ERR_JWKS_NO_MATCHING_KEY');
  await expect(`${file}: another issuer expected, refused`, token, 'ERR_JWT_CLAIM_VALIDATION_FAILED', undefined,
    'https://other.example');
}
result(subscriptions.paid >= 1 && subscriptions.expired >= 1,
  `subscription tokens with kind and expires_at: ${subscriptions.paid} paid (until a future end), ${subscriptions.expired} not_paid/expired (a past end)`);

result(v2.grace >= 1 && v2.onHold >= 1,
  `protocol v2 tokens: ${v2.grace} paid in_grace_period store_checked true, ${v2.onHold} not_paid/on_hold store_checked false`);

// ---- the book's grant, keys from createRemoteJWKSet ------------------------------------------
const server = createServer((req, res) => {
  res.writeHead(req.url === '/v1/keys' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(req.url === '/v1/keys' ? jwksDocument : '');
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const keys = createRemoteJWKSet(new URL(`http://127.0.0.1:${server.address().port}/v1/keys`));
const config = { issuer, app };
const outcome = (promise) => promise.then((d) => ({ d }), (e) => ({ e: e.message }));

const purchaseOf = (c) => `${c.app}/${c.store}/${c.transaction_id}`;
const byPurchase = new Map(); // purchase → the paid tokens of it, in order
const seen = new MemoryOnce();
const delivered = new MemoryOnce();
for (const { file, token } of tokens) {
  const c = unb64(token.split('.')[1]);
  const { d, e } = await outcome(grant(token, keys, config, seen, delivered));
  if (c.outcome !== 'paid') {
    result(e === c.reason, `${file}: README grant refuses ${c.outcome}/${c.reason} (${e ?? 'delivered!'})`);
    continue;
  }
  const earlier = byPurchase.get(purchaseOf(c)) ?? [];
  byPurchase.set(purchaseOf(c), [...earlier, token]);
  if (earlier.length === 0) {
    result(d?.account === c.sub && d?.tx === c.transaction_id,
      `${file}: README grant delivers ${d?.product} to ${d?.account} (tx ${d?.tx}, ${c.redemption})${e ? `: ${e}` : ''}`);
  } else {
    result(e === 'already delivered',
      `${file}: README grant, purchase ${c.transaction_id} verified again (${c.redemption}, new jti), not delivered again (${e ?? 'delivered!'})`);
  }
}
const [most] = [...byPurchase.values()].sort((a, b) => b.length - a.length);
result(most?.length >= 3 && byPurchase.size >= 2,
  `the tokens cover one purchase verified ${most?.length ?? 0} times and ${byPurchase.size} purchases in all`);
if (most) {
  const again = await outcome(grant(most[0], keys, config, seen, delivered));
  result(again.e === 'replayed', `README grant of a used token again, refused (${again.e ?? 'delivered!'})`);
  const other = await outcome(grant(most[0], keys, { issuer, app: 'com.other.app' }, new MemoryOnce(), new MemoryOnce()));
  result(other.e === 'wrong app', `README grant for another app, refused (${other.e ?? 'delivered!'})`);
  // All tokens of the purchase at once, fresh records: exactly one delivers.
  const [s2, d2] = [new MemoryOnce(), new MemoryOnce()];
  const all = await Promise.all(most.map((t) => outcome(grant(t, keys, config, s2, d2))));
  const ok = all.filter((r) => r.d).length === 1 && all.every((r) => r.d || r.e === 'already delivered');
  result(ok, `README grant of the purchase's ${most.length} tokens at once: delivered ${all.filter((r) => r.d).length} time(s)`);
}
server.close();

console.log(`jose: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
