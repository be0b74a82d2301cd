"""A PaySeal webhook receiver in Python, standard library only (http.server + hmac).

Usage: python3 receiver.py --secret-file FILE --events FILE.jsonl [--port N] [--port-file FILE]

Listens on 127.0.0.1 (port 0 by default: the OS picks one; it is printed and written to
--port-file). POST /webhooks/payseal:
  - a bad, malformed or stale signature            -> 400, logged as "rejected", nothing handled;
  - a good signature, an event id not seen before  -> the event is recorded ("accepted", one
    line appended and fsynced), then 200;
  - a good signature, an event id already handled  -> 200, logged as "duplicate", not handled again.
Every line of --events is JSON; the ids already accepted there are loaded again at start, so
deduplication survives a restart. The secret file holds the app's webhook secret (the same file
as the verifier's `secret_file`; a trailing newline is not part of it).

`verify` below is the whole check; the rest is the HTTP server around it.
Run by scripts/interop-webhooks.sh against a real verifier.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import threading
import time

MAX_BODY = 1 << 20


def verify(secret: bytes, header: str, body: bytes, now: float, tolerance: int = 300) -> dict:
    """The event, once the PaySeal-Signature header proves it; else ValueError."""
    parts = [p.strip().split("=", 1) for p in header.split(",") if "=" in p]
    ts = [v for k, v in parts if k == "t"]
    if len(ts) != 1 or not ts[0].isdigit(): raise ValueError("malformed header")
    t = int(ts[0])
    if abs(now - t) > tolerance: raise ValueError("stale")
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest().encode()
    if not any(k == "v1" and hmac.compare_digest(mac, v.encode()) for k, v in parts):
        raise ValueError("bad signature")  # compare_digest: constant time
    return json.loads(body)  # then: handle it unless event["id"] was already handled


class Events:
    """The handled events: a JSON-lines file (fsynced before we answer 2xx) and the set of ids."""

    def __init__(self, path):
        self.path, self.lock, self.seen = path, threading.RLock(), set()
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    rec = json.loads(line)
                    if rec.get("result") == "accepted":
                        self.seen.add(rec["id"])

    def write(self, record):
        with self.lock, open(self.path, "a") as f:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def handle(self, event, raw_body, header):
        """Record the event unless its id was handled already. True if new."""
        with self.lock:  # check and record together: two deliveries of one id may race
            if event["id"] in self.seen:
                self.write({"result": "duplicate", "id": event["id"]})
                return False
            # The real handler grants the item here (in the same transaction as the id).
            # The raw body and header are kept only so the test can replay this delivery.
            self.write({"result": "accepted", "id": event["id"], "type": event.get("type"),
                        "app": event.get("app"), "body": raw_body.decode(errors="replace"), "signature": header})
            self.seen.add(event["id"])
            return True


def make_handler(secret, events):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/webhooks/payseal":
                return self.answer(404, "not found")
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY:
                return self.answer(413 if length.isdigit() else 411, "length required, at most 1 MiB")
            body = self.rfile.read(int(length))
            header = self.headers.get("PaySeal-Signature", "")
            try:
                event = verify(secret, header, body, time.time())
                if not isinstance(event, dict) or not isinstance(event.get("id"), str):
                    raise ValueError("not a PaySeal event")
            except ValueError as e:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
                events.write({"result": "rejected", "reason": str(e).split(":")[0],
                              "id_header": self.headers.get("PaySeal-Webhook-Id")})
                return self.answer(400, "rejected")
            new = events.handle(event, body, header)
            self.answer(200, "ok" if new else "duplicate")

        def answer(self, status, text):
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):  # quiet: the events file is the record
            pass

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    args = ap.parse_args()
    with open(args.secret_file, "rb") as f:
        secret = f.read().rstrip(b"\r\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(secret, Events(args.events)))
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"python receiver: http://127.0.0.1:{port}/webhooks/payseal", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
