// A PaySeal webhook receiver in Node, standard library only (node:http + node:crypto).
//
// Usage: node receiver.mjs --secret-file FILE --events FILE.jsonl [--port N] [--port-file FILE]
//
// Listens on 127.0.0.1 (port 0 by default: the OS picks one; it is printed and written to
// --port-file). POST /webhooks/payseal:
//   - a bad, malformed or stale signature            -> 400, logged as "rejected", nothing handled;
//   - a good signature, an event id not seen before  -> the event is recorded ("accepted", one
//     line appended and fsynced), then 200;
//   - a good signature, an event id already handled  -> 200, logged as "duplicate", not handled again.
// Every line of --events is JSON; the ids already accepted there are loaded again at start, so
// deduplication survives a restart. The secret file holds the app's webhook secret (the same file
// as the verifier's `secret_file`; a trailing newline is not part of it).
//
// `verify` below is the whole check; the rest is the HTTP server around it.
// Run by scripts/interop-webhooks.sh against a real verifier.
import { createHmac, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const MAX_BODY = 1 << 20;

// The event, once the PaySeal-Signature header proves it; else throws.
export function verify(secret, header, rawBody /* Buffer */, now = Date.now() / 1000, tolerance = 300) {
  const parts = header.split(",").filter((p) => p.includes("=")).map((p) => p.trim().split("="));
  const ts = parts.filter(([k]) => k === "t").map(([, v]) => v);
  if (ts.length !== 1 || !/^\d+$/.test(ts[0])) throw new Error("malformed header");
  const t = Number(ts[0]);
  if (Math.abs(now - t) > tolerance) throw new Error("stale");
  const mac = createHmac("sha256", secret).update(`${t}.`).update(rawBody).digest();
  const ok = (v) => /^[0-9a-f]{64}$/.test(v) && timingSafeEqual(mac, Buffer.from(v, "hex")); // constant time
  if (!parts.some(([k, v]) => k === "v1" && ok(v))) throw new Error("bad signature");
  return JSON.parse(rawBody); // then: handle it unless event.id was already handled
}

// The handled events: a JSON-lines file (fsynced before we answer 2xx) and the set of ids.
// Node runs one handler at a time and these calls are synchronous, so check-and-record cannot race.
class Events {
  constructor(path) {
    this.path = path;
    this.seen = new Set();
    if (fs.existsSync(path)) {
      for (const line of fs.readFileSync(path, "utf8").split("\n")) {
        if (!line) continue;
        const rec = JSON.parse(line);
        if (rec.result === "accepted") this.seen.add(rec.id);
      }
    }
  }

  write(record) {
    const fd = fs.openSync(this.path, "a");
    try {
      fs.writeSync(fd, JSON.stringify(record) + "\n");
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  // Record the event unless its id was handled already. True if new.
  handle(event, rawBody, header) {
    if (this.seen.has(event.id)) {
      this.write({ result: "duplicate", id: event.id });
      return false;
    }
    // The real handler grants the item here (in the same transaction as the id).
    // The raw body and header are kept only so the test can replay this delivery.
    this.write({ result: "accepted", id: event.id, type: event.type, app: event.app,
      body: rawBody.toString("utf8"), signature: header });
    this.seen.add(event.id);
    return true;
  }
}

function main() {
  const { values: args } = parseArgs({
    options: {
      "secret-file": { type: "string" },
      events: { type: "string" },
      port: { type: "string", default: "0" },
      "port-file": { type: "string" },
    },
  });
  if (!args["secret-file"] || !args.events) {
    console.error("usage: node receiver.mjs --secret-file FILE --events FILE.jsonl [--port N] [--port-file FILE]");
    process.exit(2);
  }
  let secret = fs.readFileSync(args["secret-file"]);
  while (secret.length && [10, 13].includes(secret.at(-1))) secret = secret.subarray(0, -1);
  const events = new Events(args.events);

  const answer = (res, status, text) => {
    res.writeHead(status, { "Content-Type": "text/plain" });
    res.end(text + "\n");
  };
  const server = http.createServer((req, res) => {
    if (req.method !== "POST" || req.url !== "/webhooks/payseal") return answer(res, 404, "not found");
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > MAX_BODY) return answer(res, 413, "too large");
      const body = Buffer.concat(chunks);
      const header = req.headers["payseal-signature"] ?? "";
      let event;
      try {
        event = verify(secret, header, body, Date.now() / 1000);
        if (typeof event !== "object" || event === null || typeof event.id !== "string") {
          throw new Error("not a PaySeal event");
        }
      } catch (e) {
        const reason = e instanceof SyntaxError ? "not JSON" : e.message;
        events.write({ result: "rejected", reason, id_header: req.headers["payseal-webhook-id"] ?? null });
        return answer(res, 400, "rejected");
      }
      const isNew = events.handle(event, body, header);
      answer(res, 200, isNew ? "ok" : "duplicate");
    });
  });
  server.listen(Number(args.port), "127.0.0.1", () => {
    const { port } = server.address();
    if (args["port-file"]) {
      fs.writeFileSync(args["port-file"] + ".tmp", `${port}\n`);
      fs.renameSync(args["port-file"] + ".tmp", args["port-file"]);
    }
    console.log(`node receiver: http://127.0.0.1:${port}/webhooks/payseal`);
  });
}

// Importing this file (for `verify`) does not start a server; running it does.
if (import.meta.url === pathToFileURL(process.argv[1]).href) main();
