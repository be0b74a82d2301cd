"""The book's Python recipe (docs/src/delivery.md, "Delivering to your server"), exactly: scripts/interop.sh runs it on
live verdict tokens (tests/interop/python/verify.py) and scripts/docs.sh checks that the book shows this code
(tests/interop/readme_recipes.py)."""

import threading

import jwt  # PyJWT

# keys: jwt.PyJWKClient("https://verify.example.com/v1/keys") (caches keys).
def check(token, keys, issuer):
    """The claims of a genuine verdict of any outcome, else a jwt.PyJWTError."""
    if jwt.get_unverified_header(token).get("typ") != "payseal-verdict+jwt":
        raise jwt.InvalidTokenError("not a PaySeal verdict")
    return jwt.decode(token, keys.get_signing_key_from_jwt(token), algorithms=["EdDSA"],
                      issuer=issuer, options={"require": ["iss", "iat", "exp", "jti", "sub"]})

class Refused(Exception):
    """A genuine verdict that grants nothing here."""

def grant(token, keys, issuer, app, seen, delivered):
    """(account, product, quantity, transaction) to deliver now; seen: your jti store (the token
    replay guard); delivered: your purchase records (a unique key)."""
    c = check(token, keys, issuer)
    if c["app"] != app or c["outcome"] != "paid" or not c.get("transaction_id"):
        raise Refused(c.get("reason", "wrong app"))
    if not seen.claim(c["jti"], c["exp"]): raise Refused("replayed")
    # Each verification of a purchase has a new jti ("repeat" after the first): deliver by the
    # purchase, once. "repeat" means already delivered, unless your own records say not.
    if not delivered.claim(f'{c["app"]}/{c["store"]}/{c["transaction_id"]}', c["jti"]):
        raise Refused("already delivered")
    return c["sub"], c["product_id"], c.get("quantity", 1), c["transaction_id"]

class MemoryOnce:
    """Each key once, in memory (several instances: a table with a unique key, claimed by INSERT)."""
    def __init__(self):
        self._seen, self._lock = {}, threading.Lock()
    def claim(self, key, value):
        with self._lock:
            if key in self._seen: return False
            self._seen[key] = value
            return True
