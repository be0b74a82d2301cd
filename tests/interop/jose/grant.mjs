// The book's Node recipe (docs/src/delivery.md, "Delivering to your server"), exactly: scripts/interop.sh runs it on
// live verdict tokens (tests/interop/jose/verify.mjs) and scripts/docs.sh checks that the book shows this code
// (tests/interop/readme_recipes.py).
import { jwtVerify } from 'jose';

// keys: createRemoteJWKSet(new URL('https://verify.example.com/v1/keys')) (caches, refetches on a new kid).
export async function check(token, keys, issuer) {
  const { payload } = await jwtVerify(token, keys, { algorithms: ['EdDSA'],
    typ: 'payseal-verdict+jwt', issuer, maxTokenAge: '10m' });
  return payload; // a genuine verdict of any outcome
}

// seen: your jti store (the token replay guard); delivered: your purchase records (a unique key).
export async function grant(token, keys, { issuer, app }, seen, delivered) {
  const c = await check(token, keys, issuer);
  if (c.app !== app || c.outcome !== 'paid' || !c.transaction_id) throw new Error(c.reason ?? 'wrong app');
  if (!(await seen.claim(c.jti, c.exp))) throw new Error('replayed');
  // Each verification of a purchase has a new jti ('repeat' after the first): deliver by the
  // purchase, once. 'repeat' means already delivered, unless your own records say not.
  if (!(await delivered.claim(`${c.app}/${c.store}/${c.transaction_id}`, c.jti))) throw new Error('already delivered');
  return { account: c.sub, product: c.product_id, quantity: c.quantity ?? 1, tx: c.transaction_id };
}

// Each key once, in memory (several instances: a table with a unique key, claimed by INSERT).
export class MemoryOnce {
  #seen = new Map();
  async claim(key, value) {
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, value);
    return true;
  }
}
