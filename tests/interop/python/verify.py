"""Verifies PaySeal verdict tokens with PyJWT + cryptography, using only the published JWKS.

Usage: python verify.py JWKS_FILE ISSUER TOKEN_FILE...

JWKS_FILE is a saved copy of the verifier's GET /v1/keys. It is served back on 127.0.0.1 and read
through jwt.PyJWKClient, the client an application server points at https://VERIFIER/v1/keys
(PyJWKClient takes only http(s) URLs; the demo's verifier has stopped by now). Each token must verify (EdDSA only,
typ payseal-verdict+jwt, the issuer, a known kid); each tampered copy of it (payload changed,
alg switched to HS256 or none, unknown kid) must be refused. The same cases as
tests/interop/jose/verify.mjs.
"""

import base64
import http.server
import json
import sys
import threading

import jwt  # PyJWT

TYP = "payseal-verdict+jwt"


class Refused(jwt.InvalidTokenError):
    """The typ header check failed."""


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def unb64(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify(token, jwks, issuer):
    """What an application server does with a token: the claims, or an exception."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != TYP:
        raise Refused(f"typ is {header.get('typ')!r}, not {TYP}")
    key = jwks.get_signing_key_from_jwt(token)  # PyJWKClientError for an unknown kid
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        issuer=issuer,
        options={"require": ["iss", "iat", "exp", "jti", "sub"]},
    )


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
    if len(argv) < 3:
        print("usage: python verify.py JWKS_FILE ISSUER TOKEN_FILE...", file=sys.stderr)
        return 2
    jwks_file, issuer, token_files = argv[0], argv[1], argv[2:]
    with open(jwks_file, "rb") as f:
        url, server = serve(f.read())
    jwks = jwt.PyJWKClient(url)

    passed = failed = 0

    def expect(name, token, want, check=lambda claims: True, iss=issuer):
        """want: None (must verify) or the exception class the refusal must be."""
        nonlocal passed, failed
        try:
            claims = verify(token, jwks, iss)
        except (jwt.PyJWTError, ValueError) as e:
            if want is not None and isinstance(e, want):
                passed += 1
                print(f"ok   {name} (refused: {type(e).__name__})")
            else:
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}")
            return
        if want is None and check(claims):
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}: verified but should not have")

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
            and c["receipt_sha256"] == payload["receipt_sha256"],
        )
        flipped = "not_paid" if payload["outcome"] == "paid" else "paid"
        expect(f"{file}: altered outcome refused", f"{h}.{b64({**payload, 'outcome': flipped})}.{s}", jwt.InvalidSignatureError)
        expect(f"{file}: alg HS256 refused", f"{b64({**header, 'alg': 'HS256'})}.{p}.{s}", jwt.InvalidAlgorithmError)
        expect(f"{file}: alg none refused", f"{b64({**header, 'alg': 'none'})}.{p}.", jwt.InvalidAlgorithmError)
        expect(f"{file}: unknown kid refused", f"{b64({**header, 'kid': 'attacker'})}.{p}.{s}", jwt.PyJWKClientError)
        expect(f"{file}: typ JWT refused", f"{b64({**header, 'typ': 'JWT'})}.{p}.{s}", Refused)
        expect(f"{file}: another issuer expected, refused", token, jwt.InvalidIssuerError, iss="https://other.example")

    server.shutdown()
    print(f"python: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
