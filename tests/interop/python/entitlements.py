"""Verifies PaySeal entitlements documents (typ payseal-entitlements+jwt) with PyJWT +
cryptography, using only the published JWKS, as an application server that fetched them does.

Usage: python entitlements.py JWKS_FILE ISSUER APP DIR VERDICT_TOKEN_FILE

The same cases as tests/interop/jose/entitlements.mjs: DIR holds entitlements-alice.jwt and
entitlements-bob.jwt and the nonce each was asked with (entitlements-*.nonce). Each document must
verify (EdDSA only, its typ, the issuer, a known kid) and carry the nonce asked, the app and the
account; alice's names premium from her App Store pro_monthly subscription, bob's nothing. A
document with an entitlement added, alg HS256 or none, an unknown kid, another request's nonce or
another account must be refused; so must a verdict token presented as a document.
"""

import base64
import json
import sys
import time

import jwt  # PyJWT

from verify import serve

TYP = "payseal-entitlements+jwt"


class WrongRequest(Exception):
    """A genuine document that does not answer this request."""


def check_entitlements(token, keys, issuer, app, account, nonce):
    """The claims of the document answering this server's request, else an exception."""
    if jwt.get_unverified_header(token).get("typ") != TYP:
        raise jwt.InvalidTokenError("not a PaySeal entitlements document")
    c = jwt.decode(token, keys.get_signing_key_from_jwt(token), algorithms=["EdDSA"],
                   issuer=issuer, options={"require": ["iss", "iat", "exp", "jti", "sub"]})
    if c.get("nonce") != nonce:
        raise WrongRequest("another request (nonce)")
    if c.get("app") != app or c.get("sub") != account:
        raise WrongRequest("another app or account")
    if not isinstance(c.get("entitlements"), list) or not isinstance(c.get("as_of"), int):
        raise WrongRequest("not a document")
    return c


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def unb64(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def main(argv):
    if len(argv) != 5:
        print("usage: python entitlements.py JWKS_FILE ISSUER APP DIR VERDICT_TOKEN_FILE", file=sys.stderr)
        return 2
    jwks_file, issuer, app, directory, verdict_file = argv
    with open(jwks_file, "rb") as f:
        url, server = serve(f.read())
    keys = jwt.PyJWKClient(url)

    def read(name):
        with open(f"{directory}/{name}") as f:
            return f.read().strip()

    docs = {a: (read(f"entitlements-{a}.jwt"), read(f"entitlements-{a}.nonce")) for a in ("alice", "bob")}
    passed = failed = 0

    def result(ok, line):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        print(("ok   " if ok else "FAIL ") + line)

    def expect(name, token, account, nonce, want, claims_ok=lambda c: True):
        """want: None (must verify) or the exception class the refusal must be."""
        try:
            c = check_entitlements(token, keys, issuer, app, account, nonce)
        except (jwt.PyJWTError, WrongRequest) as e:
            ok = want is not None and isinstance(e, want)
            result(ok, f"{name} (refused: {type(e).__name__})" if ok else f"{name}: {type(e).__name__} {e}")
            return
        result(want is None and claims_ok(c), name if want is None else f"{name}: verified but should not have")

    now_ms = time.time() * 1000

    def alice_ok(c):
        return any(e["name"] == "premium" and e["product_id"] == "pro_monthly" and e["store"] == "app_store"
                   and e.get("kind") == "subscription" and isinstance(e.get("expires_at"), int)
                   and e["expires_at"] > now_ms for e in c["entitlements"]) \
            and all(e["name"] == "premium" for e in c["entitlements"])

    alice, alice_nonce = docs["alice"]
    bob, bob_nonce = docs["bob"]
    expect("alice: genuine document verifies, premium from pro_monthly", alice, "alice", alice_nonce, None, alice_ok)
    expect("bob: genuine document verifies, no entitlement", bob, "bob", bob_nonce, None,
           lambda c: c["entitlements"] == [])
    h, p, s = bob.split(".")
    header, payload = unb64(h), unb64(p)
    forged = dict(payload, entitlements=[{"name": "premium", "product_id": "pro_monthly", "store": "app_store",
                                          "transaction_key": "1", "since": payload["as_of"]}])
    expect("bob: premium added refused", f"{h}.{b64(forged)}.{s}", "bob", bob_nonce, jwt.InvalidSignatureError)
    expect("bob: alg HS256 refused", f"{b64(dict(header, alg='HS256'))}.{p}.{s}", "bob", bob_nonce, jwt.PyJWTError)
    expect("bob: alg none refused", f"{b64(dict(header, alg='none'))}.{p}.", "bob", bob_nonce, jwt.PyJWTError)
    expect("bob: unknown kid refused", f"{b64(dict(header, kid='attacker'))}.{p}.{s}", "bob", bob_nonce,
           jwt.PyJWKClientError)
    expect("alice's document against bob's request (nonce) refused", alice, "alice", bob_nonce, WrongRequest)
    expect("alice's document as bob's refused", alice, "bob", alice_nonce, WrongRequest)
    with open(verdict_file) as f:
        verdict = f.read().strip()
    expect("a verdict presented as a document refused (typ)", verdict, "bob", bob_nonce, jwt.InvalidTokenError)
    server.shutdown()
    print(f"PyJWT entitlements: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
