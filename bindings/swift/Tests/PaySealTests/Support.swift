// Test support: real `payseal-verifier dev` processes and sandbox-store purchases.
import Foundation
import PaySeal
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The app id `payseal-verifier dev` configures.
let appId = "dev.payseal.demo"

/// The account binding namespace `payseal-verifier dev` configures (`uuid_v5`,
/// `DEV_ACCOUNT_NAMESPACE` in verifier/src/dev.rs).
let devAccountNamespace = "5d0e6c1a-8f3b-4e27-9a64-2c71b0f4d9e8"

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
}

/// What scripts/test-bindings.sh provides. Missing: the test fails (never skips).
enum TestEnv {
    static func required(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw TestSetupError(description: "environment variable \(name) is not set: run the tests through scripts/test-bindings.sh")
        }
        return value
    }

    static func executable(_ name: String) throws -> String {
        let path = try required(name)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestSetupError(description: "\(name)=\(path) is not an executable file")
        }
        return path
    }

    static func newDir(_ prefix: String) throws -> URL {
        let work = URL(fileURLWithPath: try required("PAYSEAL_WORK_DIR"), isDirectory: true)
        let dir = work.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

#if os(Linux)
private let streamSocket = Int32(SOCK_STREAM.rawValue)
#else
private let streamSocket = SOCK_STREAM
#endif

private func loopback(port: UInt16) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return addr
}

/// An unused TCP port on 127.0.0.1.
func freePort() throws -> Int {
    let fd = socket(AF_INET, streamSocket, 0)
    guard fd >= 0 else { throw TestSetupError(description: "socket() failed") }
    defer { close(fd) }
    var addr = loopback(port: 0)
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    let named = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    guard bound == 0, named == 0 else { throw TestSetupError(description: "bind/getsockname failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:port.
private func accepts(port: Int) -> Bool {
    let fd = socket(AF_INET, streamSocket, 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = loopback(port: UInt16(port))
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// What Play Billing's `Purchase` gives an app: `originalJson` and `signature`.
struct PlayPurchase {
    let originalJson: String
    let signature: String

    /// The receipt, built the way an app builds it.
    var receipt: Receipt { .googlePlay(originalJson: originalJson, signature: signature) }

    /// Play's `orderId` (the verifier's transaction id).
    var orderId: String {
        let object = try? JSONSerialization.jsonObject(with: Data(originalJson.utf8)) as? [String: Any]
        return object?["orderId"] as? String ?? ""
    }

    /// A forgery as Freedom-style tools make it: one field of the purchase JSON edited
    /// (`from` replaced by `to`), the genuine signature kept. The order id stays, so the
    /// genuine purchase shows afterwards whether the forgery redeemed it.
    func altered(_ from: String, _ to: String) throws -> PlayPurchase {
        guard originalJson.contains(from) else {
            throw TestSetupError(description: "\(from) not in \(originalJson)")
        }
        let edited = originalJson.replacingOccurrences(of: from, with: to)
        guard edited != originalJson, edited.contains(to) else {
            throw TestSetupError(description: "forgery did not change \(originalJson)")
        }
        return PlayPurchase(originalJson: edited, signature: signature)
    }

    /// The genuine purchase JSON with a random signature of the genuine one's size
    /// (RSA-2048: 256 bytes).
    func withRandomSignature() throws -> PlayPurchase {
        guard let size = Data(base64Encoded: signature)?.count, size == 256 else {
            throw TestSetupError(description: "a Play signature is 256 bytes of base64: \(signature)")
        }
        var generator = SystemRandomNumberGenerator()
        let random = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) })
        return PlayPurchase(originalJson: originalJson, signature: random.base64EncodedString())
    }
}

/// The sandbox store's test keys (RSA-2048 among them), made by the first `dev` run and
/// copied into every later verifier's state dir before it starts: `dev` reuses store keys
/// it finds, so later starts skip seconds of debug-build RSA key generation. Each verifier
/// still makes its own certificate, pins, HPKE and verdict keys, and ledger.
enum StoreKeys {
    private static let lock = NSLock()
    private static var source: URL?

    static func remember(_ stateDir: URL) {
        lock.lock(); defer { lock.unlock() }
        if source == nil { source = stateDir.appendingPathComponent("sandbox-store") }
    }

    static func seed(_ stateDir: URL) throws {
        lock.lock(); let from = source; lock.unlock()
        let to = stateDir.appendingPathComponent("sandbox-store")
        guard let from, !FileManager.default.fileExists(atPath: to.path),
              from.deletingLastPathComponent().path != stateDir.path else { return }
        try FileManager.default.copyItem(at: from, to: to)
    }
}

/// Runs `body` (which spawns a process) with no signal blocked on the calling thread.
/// A child inherits the spawning thread's signal mask, and Swift concurrency runs async
/// tests on libdispatch worker threads, which block signals: a verifier spawned there
/// would never see SIGTERM (its graceful shutdown would be untested, and `stop()` would
/// need SIGKILL).
func withSignalsUnblocked<T>(_ body: () throws -> T) rethrows -> T {
    var none = sigset_t(), saved = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    return try body()
}

/// A real `payseal-verifier dev` on 127.0.0.1:port with its state in `stateDir`.
/// `stop()` then `start()` reuses the state dir and port: same profile, keys and ledger.
final class DevVerifier {
    let stateDir: URL
    let port: Int
    private var process: Process?
    private var paused = false

    init(_ name: String) throws {
        stateDir = try TestEnv.newDir(name)
        port = try freePort()
    }

    static func started(_ name: String) throws -> DevVerifier {
        let v = try DevVerifier(name)
        try v.start()
        return v
    }

    var url: String { "https://localhost:\(port)" }
    var log: URL { stateDir.appendingPathComponent("verifier.log") }
    var profileJson: String { (try? String(contentsOf: stateDir.appendingPathComponent("profile.json"), encoding: .utf8)) ?? "" }
    var certPem: String { (try? String(contentsOf: stateDir.appendingPathComponent("tls/cert.pem"), encoding: .utf8)) ?? "" }

    func start() throws {
        precondition(process == nil, "verifier already running")
        try StoreKeys.seed(stateDir)
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let out = try FileHandle(forWritingTo: log)
        out.seekToEndOfFile()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try TestEnv.executable("PAYSEAL_VERIFIER_BIN"))
        p.arguments = ["dev", "--listen", "127.0.0.1:\(port)", "--state-dir", stateDir.path]
        p.standardOutput = out
        p.standardError = out
        try withSignalsUnblocked { try p.run() }
        process = p
        let deadline = Date().addingTimeInterval(90)
        let fm = FileManager.default
        while true {
            if !p.isRunning {
                process = nil
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw TestSetupError(description: "verifier exited (\(p.terminationStatus)) before serving:\n\(text)")
            }
            if fm.fileExists(atPath: stateDir.appendingPathComponent("profile.json").path),
               fm.fileExists(atPath: stateDir.appendingPathComponent("tls/cert.pem").path),
               accepts(port: port) {
                StoreKeys.remember(stateDir)
                return
            }
            if Date() > deadline {
                p.terminate()
                throw TestSetupError(description: "verifier did not listen on 127.0.0.1:\(port) within 90 s")
            }
            usleep(50_000)
        }
    }

    /// A verifier whose config has `toml` appended (started, stopped, edited, started again).
    static func startedWithConfig(_ name: String, _ toml: String) throws -> DevVerifier {
        let v = try started(name)
        v.stop()
        try v.appendConfig(toml)
        try v.start()
        return v
    }

    /// Append `toml` to this verifier's `verifier.toml` (e.g. an app's
    /// `[apps."dev.payseal.demo".entitlements]`); `dev` writes the file on its first start and
    /// reuses its edits on later ones, so call it between a `stop()` and a `start()`.
    func appendConfig(_ toml: String) throws {
        precondition(process == nil, "stop the verifier before editing its config")
        let file = stateDir.appendingPathComponent("verifier.toml")
        let text = try String(contentsOf: file, encoding: .utf8)
        try (text + "\n" + toml + "\n").write(to: file, atomically: true, encoding: .utf8)
    }

    /// SIGTERM (graceful shutdown) and wait for the exit.
    func stop() {
        guard let p = process else { return }
        if paused { resume() }
        p.terminate()
        let deadline = Date().addingTimeInterval(30)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTFail("the verifier ignored SIGTERM for 30 s (killed); log: \(log.path)")
        }
        process = nil
    }

    /// SIGSTOP: the kernel still accepts TCP connections, nothing answers them.
    func pause() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGSTOP)
        paused = true
    }

    /// SIGCONT.
    func resume() {
        guard let p = process else { return }
        kill(p.processIdentifier, SIGCONT)
        paused = false
    }

    /// A new Google Play purchase from the sandbox store, signed with the keys this verifier trusts.
    func purchase(product: String = "gems_100") throws -> PlayPurchase {
        guard case let .googlePlay(purchaseData, signature) = try issue("google-play", product: product) else {
            throw TestSetupError(description: "the sandbox did not print a Google Play receipt")
        }
        return PlayPurchase(originalJson: purchaseData, signature: signature)
    }

    /// A new purchase in `store`'s real format (`google-play`, `app-store`, `huawei`,
    /// `sandbox`), with the app's account token (Play `obfuscatedAccountId`, App Store
    /// `appAccountToken`) when `accountToken` is given.
    func issue(_ store: String, product: String = "gems_100", accountToken: String? = nil) throws -> Receipt {
        var arguments = ["--product", product]
        if let accountToken { arguments += ["--account-token", accountToken] }
        return try sandboxReceipt(store, arguments)
    }

    /// `payseal-sandbox STORE --dir <this state> --app appId ARGS`: a receipt signed with the keys this verifier trusts.
    func sandboxReceipt(_ store: String, _ args: [String]) throws -> Receipt {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try TestEnv.executable("PAYSEAL_SANDBOX_BIN"))
        p.arguments = [store, "--dir", stateDir.path, "--app", appId] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TestSetupError(description: "payseal-sandbox \(store) failed (\(p.terminationStatus))")
        }
        return try receiptFromJson(json: String(decoding: data, as: UTF8.self))
    }

    deinit { stop() }
}

/// A real `payseal-mitm` process: a TLS-terminating relay on 127.0.0.1 holding the
/// verifier's pinned certificate and key (what a compromised load balancer holds), forwarding
/// to it and treating the sealed answers as `mode` says (`pass`, `flip-response`,
/// `replay-first-response`, `swap-responses`, or `resign` with `extraArgs` giving the
/// verifier's state dir and the claims it merges into each verdict before signing it again
/// with the verifier's key). Its `--report` JSON (requests, altered responses, plaintext seen)
/// is at `report`.
final class MitmRelay {
    let verifier: DevVerifier
    let port: Int
    let report: URL
    let log: URL
    private var process: Process?

    /// A `--mode resign` relay merging `claimsJson` into every verdict, signed with the verifier's key.
    static func resigning(_ verifier: DevVerifier, claimsJson: String) throws -> MitmRelay {
        try MitmRelay(verifier, mode: "resign",
                      extraArgs: ["--state-dir", verifier.stateDir.path, "--claims", claimsJson])
    }

    init(_ verifier: DevVerifier, mode: String, extraArgs: [String] = []) throws {
        self.verifier = verifier
        let dir = try TestEnv.newDir("mitm")
        report = dir.appendingPathComponent("report.json")
        log = dir.appendingPathComponent("mitm.log")
        port = try freePort()
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let out = try FileHandle(forWritingTo: log)
        let tls = verifier.stateDir.appendingPathComponent("tls")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try TestEnv.executable("PAYSEAL_MITM_BIN"))
        p.arguments = [
            "--listen", "127.0.0.1:\(port)", "--upstream", verifier.url,
            "--cert", tls.appendingPathComponent("cert.pem").path,
            "--key", tls.appendingPathComponent("key.pem").path,
            "--upstream-ca", tls.appendingPathComponent("cert.pem").path,
            "--mode", mode, "--report", report.path,
        ] + extraArgs
        p.standardOutput = out
        p.standardError = out
        try withSignalsUnblocked { try p.run() }
        process = p
        let deadline = Date().addingTimeInterval(60)
        while !accepts(port: port) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            guard p.isRunning else {
                process = nil
                throw TestSetupError(description: "payseal-mitm exited (\(p.terminationStatus)):\n\(text)")
            }
            guard Date() < deadline else {
                stop()
                throw TestSetupError(description: "payseal-mitm did not listen on 127.0.0.1:\(port) within 60 s:\n\(text)")
            }
            usleep(50_000)
        }
    }

    /// `https://localhost:PORT`: the host name of the verifier's certificate.
    var url: String { "https://localhost:\(port)" }

    /// The verifier's profile with its URL pointed at the relay (the pins stay: the relay
    /// presents the pinned certificate).
    func profileJson() throws -> String {
        let original = verifier.profileJson
        let profile = original.replacingOccurrences(of: verifier.url, with: url)
        guard profile.contains(url), !profile.contains(verifier.url) else {
            throw TestSetupError(description: "profile URL not replaced: \(original)")
        }
        return profile
    }

    /// A number field of the relay's report, e.g. `requests` or `responses_altered`.
    func reportCount(_ field: String) throws -> Int {
        let data = try Data(contentsOf: report)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let value = object[field] as? Int else {
            throw TestSetupError(description: "no \(field) in the mitm report: \(String(decoding: data, as: UTF8.self))")
        }
        return value
    }

    /// SIGTERM and wait for the exit.
    func stop() {
        guard let p = process else { return }
        p.terminate()
        let deadline = Date().addingTimeInterval(30)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTFail("payseal-mitm ignored SIGTERM for 30 s (killed); log: \(log.path)")
        }
        process = nil
    }

    deinit { stop() }
}

/// Options for tests: the dev verifier's app and its self-signed certificate(s) as extra roots.
func testOptions(
    roots: [String], pendingDir: URL? = nil, maxAttempts: Int32 = 2,
    connectTimeoutMs: Int64 = 5_000, requestTimeoutMs: Int64 = 15_000, deadlineMs: Int64 = 30_000,
    entitlementsDir: URL? = nil
) -> PaySealOptions {
    PaySealOptions(
        appId: appId, connectTimeoutMs: connectTimeoutMs, requestTimeoutMs: requestTimeoutMs,
        deadlineMs: deadlineMs, maxAttempts: maxAttempts, baseBackoffMs: 50,
        pendingDir: pendingDir?.path, extraRootsPem: roots, entitlementsDir: entitlementsDir?.path)
}

/// The names of the files in a folder (finished and temporary alike).
func files(in dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
}

/// Collects the SDK's log events through the foreign-trait log hook (called from SDK threads).
final class LogCapture: PaySealLogger, @unchecked Sendable {
    private let lock = NSLock()
    private var events: [String] = []

    init() {}

    func install() -> LogCapture { setLogger(logger: self); return self }
    func uninstall() { clearLogger() }

    func log(level: LogLevel, message: String) {
        lock.lock(); events.append(message); lock.unlock()
    }

    var messages: [String] { lock.lock(); defer { lock.unlock() }; return events }

    /// Wait up to `seconds` for an event matching `predicate`.
    func wait(seconds: Double, for predicate: (String) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if messages.contains(where: predicate) { return true }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return messages.contains(where: predicate)
    }
}

/// The error a throwing async call ends with, or a test failure when it succeeds.
func asyncError<T>(_ body: () async throws -> T, file: StaticString = #filePath, line: UInt = #line) async -> Error? {
    do {
        let value = try await body()
        XCTFail("expected an error, got \(value)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}
