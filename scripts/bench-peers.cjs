// The peer side of scripts/bench-peers.sh: Apple's SignedDataVerifier (App Store Server Library)
// and node in-app-purchase 1.11.4 (Google Play) on the same files PaySeal's `peers` bench reads.
// Usage: NODE_PATH=<scratch>/node_modules node bench-peers.cjs INPUT_DIR APP  → JSON on stdout.
'use strict';
const fs = require('fs');
const path = require('path');
const { SignedDataVerifier, Environment } = require('@apple/app-store-server-library');
const iap = require('in-app-purchase');

const [dir, app] = process.argv.slice(2);
if (!dir || !app) {
  console.error('usage: bench-peers.cjs INPUT_DIR APP');
  process.exit(2);
}
const json = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
const keys = json('keys.json');
const appStore = json('app_store.json');
const play = json('google_play.json');
const rootDer = new (require('crypto').X509Certificate)(fs.readFileSync(keys.app_store_root_path)).raw;

// Median time per call (µs) of `op` over `batches` batches of about `batchMs` each.
async function time(op, { batches = 15, batchMs = 200 } = {}) {
  let n = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await op();
    if (Number(process.hrtime.bigint() - t0) / 1e6 >= batchMs / 4) break;
    n *= 2;
  }
  n *= 4;
  const per = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await op();
    per.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
  }
  per.sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)];
}

async function main() {
  // Apple: the sandbox store's test root as the root, no online (OCSP) checks. Offline, the
  // library keeps no chain cache: every call verifies the chain (its cache is online-only).
  const apple = new SignedDataVerifier([rootDer], false, Environment.SANDBOX, app);
  const tx = await apple.verifyAndDecodeTransaction(appStore.jws);
  if (tx.bundleId !== app) throw new Error(`Apple verifier decoded bundleId ${tx.bundleId}`);

  // in-app-purchase: the Play public key as the Play Console shows it (Base64 SPKI).
  iap.config({ googlePublicKeyStrLive: keys.google_play_public_key });
  await iap.setup();
  const receipt = () => ({ data: play.purchase_data, signature: play.signature });
  const paid = await iap.validate(iap.GOOGLE, receipt());
  if (!iap.isValidated(paid)) throw new Error('in-app-purchase refused the genuine purchase');
  // ... and a forgery fails, so the timed call is the real check.
  const forged = { data: play.purchase_data.replace('gems_100', 'gems_999'), signature: play.signature };
  if (await iap.validate(iap.GOOGLE, forged).then(() => true, () => false)) {
    throw new Error('in-app-purchase accepted an altered purchase');
  }
  let appleForgedRefused = false;
  try {
    const [h, p, s] = appStore.jws.split('.');
    const body = Buffer.from(p, 'base64url').toString().replace('gems_100', 'gems_999');
    await apple.verifyAndDecodeTransaction(`${h}.${Buffer.from(body).toString('base64url')}.${s}`);
  } catch (e) {
    appleForgedRefused = true;
  }
  if (!appleForgedRefused) throw new Error('SignedDataVerifier accepted an altered payload');

  const out = {
    node: process.version,
    apple_library: require('@apple/app-store-server-library/package.json').version,
    in_app_purchase: require('in-app-purchase/package.json').version,
    apple_us: await time(() => apple.verifyAndDecodeTransaction(appStore.jws)),
    in_app_purchase_us: await time(() => iap.validate(iap.GOOGLE, receipt())),
  };
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(`bench-peers.cjs: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
