"""Verifies PaySeal verdict tokens with PyJWT + cryptography, using only the published JWKS,
through the book's Python recipe (grant.py).

Usage: python verify.py JWKS_FILE ISSUER APP TOKEN_FILE...

JWKS_FILE is a saved copy of the verifier's GET /v1/keys. It is served back on 127.0.0.1 and read
through jwt.PyJWKClient, the client an application server points at https://VERIFIER/v1/keys
(PyJWKClient takes only http(s) URLs; the demo's verifier has stopped by now). Each token must verify (EdDSA only,
typ payseal-verdict+jwt, the issuer, a known kid); each tampered copy of it (payload changed,
alg switched to HS256 or none, unknown kid) must be refused. The same cases as
tests/interop/jose/verify.mjs. Then the book's grant: not-paid refused; of the paid tokens,
the first of each purchase (store + transaction_id) delivers it and every later one
(re-verifications: fresh jti, redemption repeat) is "already delivered"; a used token is
"replayed"; another app is refused; the tokens of one purchase granted from several threads at
once deliver it once.
"""

import base64
import http.server
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jwt  # PyJWT

from grant import MemoryOnce, Refused, check, grant


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def unb64(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def serve(document):
    """Serve `document` at http://127.0.0.1:PORT/v1/keys; returns (url, server)."""

    class Keys(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            found = self.path == "/v1/keys"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if found:
                self.wfile.write(document)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1/keys", server


def main(argv):
    if len(argv) < 4:
        print("usage: python verify.py JWKS_FILE ISSUER APP TOKEN_FILE...", file=sys.stderr)
        return 2
    jwks_file, issuer, app, token_files = argv[0], argv[1], argv[2], argv[3:]
    with open(jwks_file, "rb") as f:
        url, server = serve(f.read())
    jwks = jwt.PyJWKClient(url)

    passed = failed = 0

    def result(ok, line):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        print(("ok   " if ok else "FAIL ") + line)

    def expect(name, token, want, claims_ok=lambda claims: True, iss=issuer):
        """want: None (must verify) or the exception class the refusal must be."""
        try:
            claims = check(token, jwks, iss)
        except (jwt.PyJWTError, ValueError) as e:
            ok = want is not None and isinstance(e, want)
            result(ok, f"{name} (refused: {type(e).__name__})" if ok else f"{name}: {type(e).__name__}: {e}")
            return
        ok = want is None and claims_ok(claims)
        result(ok, name if ok else f"{name}: verified but should not have")

    # Subscriptions: a verified subscription token's kind and expires_at (Unix ms, the end of the
    # paid period, not the token's exp): paid -> in the future; not_paid/expired -> in the past.
    subscriptions = {"paid": 0, "expired": 0}

    def subscription_ok(c):
        if "kind" not in c:
            return True
        if c["kind"] not in ("consumable", "non_consumable", "subscription"):
            return False
        if c["kind"] != "subscription" or "expires_at" not in c:
            return True
        end, now_ms = c["expires_at"], time.time() * 1000
        if not isinstance(end, int) or end <= c["exp"]:
            return False
        if c["outcome"] == "paid":
            subscriptions["paid"] += 1
            return end > now_ms
        if c.get("reason") == "expired":
            subscriptions["expired"] += 1
            return end <= now_ms
        return True

    # Protocol v2: subscription_state (one vocabulary for both stores) and store_checked (a
    # boolean), when present; the paid token in its grace period and the not_paid/on_hold one.
    states = ("active", "in_grace_period", "on_hold", "paused", "canceled", "expired", "pending")
    v2 = {"grace": 0, "on_hold": 0}

    def v2_ok(c):
        if "subscription_state" not in c and "store_checked" not in c:
            return True
        if c.get("subscription_state") not in states or not isinstance(c.get("store_checked"), bool):
            return False
        if (c["outcome"], c["subscription_state"], c["store_checked"]) == ("paid", "in_grace_period", True):
            v2["grace"] += 1
        if (c["outcome"], c.get("reason"), c["store_checked"]) == ("not_paid", "on_hold", False):
            v2["on_hold"] += 1
        return True

    for file in token_files:
        with open(file, encoding="utf-8") as f:
            token = f.read().strip()
        h, p, s = token.split(".")
        header, payload = unb64(h), unb64(p)
        expect(
            f"{file}: genuine token verifies",
            token,
            None,
            lambda c: c["outcome"] == payload["outcome"]
            and c["receipt_sha256"] == payload["receipt_sha256"]
            and subscription_ok(c)
            and v2_ok(c),
        )
        flipped = "not_paid" if payload["outcome"] == "paid" else "paid"
        expect(f"{file}: altered outcome refused", f"{h}.{b64({**payload, 'outcome': flipped})}.{s}", jwt.InvalidSignatureError)
        expect(f"{file}: alg HS256 refused", f"{b64({**header, 'alg': 'HS256'})}.{p}.{s}", jwt.InvalidAlgorithmError)
        expect(f"{file}: alg none refused", f"{b64({**header, 'alg': 'none'})}.{p}.", jwt.InvalidAlgorithmError)
        expect(f"{file}: unknown kid refused", f"{b64({**header, 'kid': 'attacker'})}.{p}.{s}", jwt.PyJWKClientError)
        expect(f"{file}: typ JWT refused", f"{b64({**header, 'typ': 'JWT'})}.{p}.{s}", jwt.InvalidTokenError)
        expect(f"{file}: another issuer expected, refused", token, jwt.InvalidIssuerError, iss="https://other.example")

    result(subscriptions["paid"] >= 1 and subscriptions["expired"] >= 1,
           f"subscription tokens with kind and expires_at: {subscriptions['paid']} paid (until a future end), "
           f"{subscriptions['expired']} not_paid/expired (a past end)")

    result(v2["grace"] >= 1 and v2["on_hold"] >= 1,
           f"protocol v2 tokens: {v2['grace']} paid in_grace_period store_checked true, "
           f"{v2['on_hold']} not_paid/on_hold store_checked false")

    # ---- the book's grant ------------------------------------------------------------------
    def outcome(token, seen, delivered, for_app=app):
        try:
            return grant(token, jwks, issuer, for_app, seen, delivered), None
        except Refused as e:
            return None, str(e)

    tokens = []
    for file in token_files:
        with open(file, encoding="utf-8") as f:
            tokens.append((file, f.read().strip()))
    by_purchase = {}  # purchase -> its paid tokens, in order
    seen, delivered = MemoryOnce(), MemoryOnce()
    for file, token in tokens:
        c = unb64(token.split(".")[1])
        d, e = outcome(token, seen, delivered)
        if c["outcome"] != "paid":
            result(e == c.get("reason"), f"{file}: README grant refuses {c['outcome']}/{c.get('reason')} ({e or 'delivered!'})")
            continue
        earlier = by_purchase.setdefault((c["app"], c["store"], c["transaction_id"]), [])
        earlier.append(token)
        if len(earlier) == 1:
            result(d is not None and d[0] == c["sub"] and d[3] == c["transaction_id"],
                   f"{file}: README grant delivers {d and d[1]} to {d and d[0]} (tx {c['transaction_id']}, {c['redemption']}){e or ''}")
        else:
            result(e == "already delivered",
                   f"{file}: README grant, purchase {c['transaction_id']} verified again ({c['redemption']}, new jti), not delivered again ({e or 'delivered!'})")
    most = max(by_purchase.values(), key=len, default=[])
    result(len(most) >= 3 and len(by_purchase) >= 2,
           f"the tokens cover one purchase verified {len(most)} times and {len(by_purchase)} purchases in all")
    if most:
        _, e = outcome(most[0], seen, delivered)
        result(e == "replayed", f"README grant of a used token again, refused ({e or 'delivered!'})")
        _, e = outcome(most[0], MemoryOnce(), MemoryOnce(), for_app="com.other.app")
        result(e == "wrong app", f"README grant for another app, refused ({e or 'delivered!'})")
        # All tokens of the purchase from as many threads at once, fresh records: one delivers.
        seen, delivered = MemoryOnce(), MemoryOnce()
        barrier = threading.Barrier(len(most))

        def racing(token):
            barrier.wait()
            return outcome(token, seen, delivered)

        with ThreadPoolExecutor(len(most)) as pool:
            all_ = list(pool.map(racing, most))
        wins = sum(d is not None for d, _ in all_)
        result(wins == 1 and all(d is not None or e == "already delivered" for d, e in all_),
               f"README grant of the purchase's {len(most)} tokens from {len(most)} threads at once: delivered {wins} time(s)")

    server.shutdown()
    print(f"python: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
