package dev.payseal

import java.io.IOException
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files
import java.nio.file.Path
import java.security.SecureRandom
import java.util.Base64
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import kotlin.io.path.exists
import kotlin.io.path.listDirectoryEntries
import kotlin.io.path.readText

/** The app id `payseal-verifier dev` configures. */
const val APP_ID = "dev.payseal.demo"

/**
 * The account binding namespace `payseal-verifier dev` configures (`uuid_v5`,
 * `DEV_ACCOUNT_NAMESPACE` in verifier/src/dev.rs).
 */
const val DEV_ACCOUNT_NAMESPACE = "5d0e6c1a-8f3b-4e27-9a64-2c71b0f4d9e8"

/**
 * What scripts/test-bindings.sh provides. A missing variable makes the test fail (never skip).
 */
object TestEnv {
    private fun required(name: String): String =
        System.getenv(name)?.takeIf { it.isNotBlank() }
            ?: error("environment variable $name is not set: run the tests through scripts/test-bindings.sh")

    private fun executable(name: String): Path {
        val p = Path.of(required(name)).toAbsolutePath()
        check(Files.isRegularFile(p) && Files.isExecutable(p)) { "$name=$p is not an executable file" }
        return p
    }

    val verifierBin: Path by lazy { executable("PAYSEAL_VERIFIER_BIN") }
    val sandboxBin: Path by lazy { executable("PAYSEAL_SANDBOX_BIN") }
    val mitmBin: Path by lazy { executable("PAYSEAL_MITM_BIN") }
    val workDir: Path by lazy {
        Path.of(required("PAYSEAL_WORK_DIR")).toAbsolutePath().also { Files.createDirectories(it) }
    }

    /** A fresh folder under the work dir. */
    fun newDir(prefix: String): Path = Files.createTempDirectory(workDir, "$prefix-")
}

/** An unused TCP port on 127.0.0.1. */
fun freePort(): Int = ServerSocket(0, 0, InetAddress.getLoopbackAddress()).use { it.localPort }

/** What Play Billing's `Purchase` gives an app: `originalJson` and `signature`. */
data class PlayPurchase(val originalJson: String, val signature: String) {
    /** The receipt, built the way an app builds it. */
    fun receipt(): Receipt = Receipts.googlePlay(originalJson, signature)

    /** Play's `orderId` (the verifier's transaction id). */
    val orderId: String
        get() = Regex("\"orderId\"\\s*:\\s*\"([^\"]+)\"").find(originalJson)?.groupValues?.get(1)
            ?: error("no orderId in $originalJson")

    /**
     * A forgery as Freedom-style tools make it: one field of the purchase JSON edited
     * ([from] replaced by [to]), the genuine signature kept. The order id stays, so the
     * genuine purchase shows afterwards whether the forgery redeemed it.
     */
    fun altered(from: String, to: String): PlayPurchase {
        check(originalJson.contains(from)) { "$from not in $originalJson" }
        val edited = originalJson.replace(from, to)
        check(edited != originalJson && edited.contains(to)) { "forgery did not change $originalJson" }
        return PlayPurchase(edited, signature)
    }

    /** The genuine purchase JSON with a random signature of the genuine one's size (RSA-2048: 256 bytes). */
    fun withRandomSignature(): PlayPurchase {
        val size = Base64.getDecoder().decode(signature).size
        check(size == 256) { "a Play signature is 256 bytes, this one $size" }
        val random = ByteArray(size).also { SecureRandom().nextBytes(it) }
        return PlayPurchase(originalJson, Base64.getEncoder().encodeToString(random))
    }
}

/**
 * A real `payseal-verifier dev` process on 127.0.0.1:[port] with its state in [stateDir]
 * (self-signed certificate for `localhost`, profile, keys, SQLite ledger). [stop] and
 * [start] again reuse the state dir and the port, so the profile stays valid.
 */
class DevVerifier(val stateDir: Path = TestEnv.newDir("verifier"), val port: Int = freePort()) : AutoCloseable {
    private var process: Process? = null
    private var paused = false
    val log: Path = stateDir.resolve("verifier.log")
    val url: String get() = "https://localhost:$port"
    val profileJson: String get() = stateDir.resolve("profile.json").readText()
    val certPem: String get() = stateDir.resolve("tls/cert.pem").readText()
    val pid: Long get() = process?.pid() ?: error("verifier not running")

    fun start(): DevVerifier {
        check(process?.isAlive != true) { "verifier already running" }
        StoreKeys.seed(stateDir)
        val p = ProcessBuilder(
            TestEnv.verifierBin.toString(), "dev",
            "--listen", "127.0.0.1:$port", "--state-dir", stateDir.toString(),
        ).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
            .start()
        process = p
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90)
        while (true) {
            if (!p.isAlive) error("verifier exited with ${p.exitValue()} before serving:\n${log.readText()}")
            if (stateDir.resolve("profile.json").exists() && stateDir.resolve("tls/cert.pem").exists() && accepts()) {
                StoreKeys.remember(stateDir)
                return this
            }
            if (System.nanoTime() > deadline) {
                p.destroyForcibly()
                error("verifier did not listen on 127.0.0.1:$port within 90 s:\n${log.readText()}")
            }
            Thread.sleep(50)
        }
    }

    private fun accepts(): Boolean = try {
        Socket().use { it.connect(InetSocketAddress("127.0.0.1", port), 500) }
        true
    } catch (_: IOException) {
        false
    }

    /** SIGTERM (graceful shutdown) and wait for the exit. */
    fun stop() {
        val p = process ?: return
        if (paused) resume()
        p.destroy() // SIGTERM on Unix
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly()
            error("verifier did not stop within 30 s of SIGTERM")
        }
        process = null
    }

    /** SIGSTOP: the kernel still accepts TCP connections, nothing answers them. */
    fun pause() {
        signal("STOP"); paused = true
    }

    /** SIGCONT. */
    fun resume() {
        signal("CONT"); paused = false
    }

    private fun signal(name: String) {
        val k = ProcessBuilder("kill", "-$name", pid.toString()).inheritIO().start()
        check(k.waitFor(10, TimeUnit.SECONDS) && k.exitValue() == 0) { "kill -$name $pid failed" }
    }

    /** A new Google Play purchase from the sandbox store, signed with the key this verifier trusts. */
    fun purchase(product: String = "gems_100", accountToken: String? = null): PlayPurchase {
        val r = issue("google-play", product, accountToken)
        check(r is Receipt.GooglePlay) { "sandbox printed $r" }
        return PlayPurchase(originalJson = r.purchaseData, signature = r.signature)
    }

    /**
     * A new purchase in [store]'s real format (`google-play`, `app-store`, `huawei`, `sandbox`)
     * from the sandbox store, with the app's account token (Play `obfuscatedAccountId`, App
     * Store `appAccountToken`) when [accountToken] is given.
     */
    fun issue(store: String, product: String = "gems_100", accountToken: String? = null): Receipt {
        val args = mutableListOf("--product", product)
        if (accountToken != null) args += listOf("--account-token", accountToken)
        return sandboxReceipt(store, *args.toTypedArray())
    }

    /** `payseal-sandbox STORE --dir <this state> --app APP_ID ARGS`: a receipt signed with the keys this verifier trusts. */
    fun sandboxReceipt(store: String, vararg args: String): Receipt {
        val out = TestEnv.workDir.resolve("sandbox-${System.nanoTime()}.json")
        val p = ProcessBuilder(
            listOf(TestEnv.sandboxBin.toString(), store, "--dir", stateDir.toString(), "--app", APP_ID) + args,
        ).redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start()
        check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { "payseal-sandbox $store failed" }
        val json = out.readText()
        Files.delete(out)
        return Receipts.fromJson(json)
    }

    /**
     * Append [toml] to this verifier's `verifier.toml` (e.g. an app's
     * `[apps."dev.payseal.demo".entitlements]`); `dev` writes the file on its first start and
     * reuses its edits on later ones, so call it between a [stop] and a [start].
     */
    fun appendConfig(toml: String) {
        check(process == null) { "stop the verifier before editing its config" }
        val file = stateDir.resolve("verifier.toml")
        check(file.exists()) { "$file does not exist: start the verifier once first" }
        Files.writeString(file, file.readText() + "\n" + toml + "\n")
    }

    override fun close() = stop()

    companion object {
        fun started(name: String): DevVerifier = DevVerifier(TestEnv.newDir(name)).start()

        /** A verifier whose config has [toml] appended (started, stopped, edited, started again). */
        fun startedWithConfig(name: String, toml: String): DevVerifier =
            started(name).apply {
                stop()
                appendConfig(toml)
                start()
            }
    }
}

/**
 * A real `payseal-mitm` process: a TLS-terminating relay on 127.0.0.1 holding [verifier]'s
 * pinned certificate and key (what a compromised load balancer holds), forwarding to it and
 * treating the sealed answers as [mode] says (`pass`, `flip-response`,
 * `replay-first-response`, `swap-responses`, or `resign`: [resigning] gives it the verifier's
 * keys and the claims to merge into each verdict, which it signs again with the verifier's key). [profileJson] is the verifier's profile with
 * its URL pointed at the relay (same host name, so the certificate and the pins still match).
 * Its `--report` JSON (requests, altered responses, plaintext seen) is at [report].
 */
class MitmRelay(val verifier: DevVerifier, mode: String, extraArgs: List<String> = emptyList()) : AutoCloseable {
    private val dir: Path = TestEnv.newDir("mitm")
    val report: Path = dir.resolve("report.json")
    private val log: Path = dir.resolve("mitm.log")
    private val process: Process
    val port: Int
    val url: String get() = "https://localhost:$port"

    init {
        val tls = verifier.stateDir.resolve("tls")
        process = ProcessBuilder(
            TestEnv.mitmBin.toString(),
            "--listen", "127.0.0.1:0",
            "--upstream", verifier.url,
            "--cert", tls.resolve("cert.pem").toString(),
            "--key", tls.resolve("key.pem").toString(),
            "--upstream-ca", tls.resolve("cert.pem").toString(),
            "--mode", mode,
            "--report", report.toString(),
            *extraArgs.toTypedArray(),
        ).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile())).start()
        // It prints `listening on https://127.0.0.1:PORT` once it accepts connections.
        val lines = process.inputStream.bufferedReader()
        val first = CompletableFuture.supplyAsync { lines.readLine() }
        val line = try {
            first.get(60, TimeUnit.SECONDS)
        } catch (e: Exception) {
            process.destroyForcibly()
            error("payseal-mitm did not start within 60 s ($e):\n${log.readText()}")
        }
        port = line?.let { Regex("^listening on https://127\\.0\\.0\\.1:(\\d+)$").find(it.trim()) }
            ?.groupValues?.get(1)?.toInt()
            ?: run {
                process.destroyForcibly()
                error("payseal-mitm printed ${line ?: "nothing"}:\n${log.readText()}")
            }
        // Keep draining stdout so the relay never blocks on a full pipe.
        Thread { lines.useLines { it.forEach { } } }.apply { isDaemon = true }.start()
    }

    companion object {
        /** A `--mode resign` relay merging [claimsJson] into every verdict, signed with [verifier]'s key. */
        fun resigning(verifier: DevVerifier, claimsJson: String) = MitmRelay(
            verifier, "resign",
            listOf("--state-dir", verifier.stateDir.toString(), "--claims", claimsJson),
        )
    }

    /** The verifier's profile, pointed at the relay. */
    val profileJson: String
        get() = verifier.profileJson.replace(verifier.url, url).also {
            check(it.contains(url) && !it.contains(verifier.url)) { "profile URL not replaced: $it" }
        }

    /** The relay's report (JSON text); empty before the first exchange. */
    fun reportJson(): String = if (report.exists()) report.readText() else ""

    /** A number field of the report, e.g. `requests` or `responses_altered`. */
    fun reportCount(field: String): Long =
        Regex("\"$field\"\\s*:\\s*(\\d+)").find(reportJson())?.groupValues?.get(1)?.toLong()
            ?: error("no $field in the mitm report: ${reportJson()}")

    override fun close() {
        process.destroy() // SIGTERM
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            error("payseal-mitm did not stop within 30 s of SIGTERM")
        }
    }
}

/**
 * The sandbox store's test keys (RSA-2048 for Play and Huawei, Ed25519, an App Store test
 * CA), made by the first `dev` run and copied into the state dir of every later verifier
 * before it starts: `dev` reuses store keys it finds and makes only its own TLS
 * certificate, HPKE and verdict keys. RSA key generation in a debug build takes seconds
 * (tens on a loaded 2-core machine), so this turns each later start into a fraction of a
 * second. Every verifier still has its own certificate, pins, keys and ledger.
 */
object StoreKeys {
    @Volatile
    private var source: Path? = null

    fun remember(stateDir: Path) {
        if (source == null) source = stateDir.resolve("sandbox-store")
    }

    fun seed(stateDir: Path) {
        val from = source ?: return
        val to = stateDir.resolve("sandbox-store")
        if (to.exists() || from.parent == stateDir) return
        Files.walk(from).use { paths ->
            paths.forEach { p -> Files.copy(p, to.resolve(from.relativize(p).toString())) }
        }
    }
}

/** Options for tests: the dev verifier's app, its self-signed certificate(s) as extra roots. */
fun testOptions(
    extraRoots: List<String>,
    pendingDir: Path? = null,
    maxAttempts: Int = 2,
    connectTimeoutMs: Long = 5_000,
    requestTimeoutMs: Long = 15_000,
    deadlineMs: Long = 30_000,
    entitlementsDir: Path? = null,
): PaySealOptions = PaySealOptions(
    appId = APP_ID,
    connectTimeoutMs = connectTimeoutMs,
    requestTimeoutMs = requestTimeoutMs,
    deadlineMs = deadlineMs,
    maxAttempts = maxAttempts,
    baseBackoffMs = 50,
    pendingDir = pendingDir?.toString(),
    extraRootsPem = extraRoots,
    entitlementsDir = entitlementsDir?.toString(),
)

/** Files in a pending directory (finished and temporary alike). */
fun filesIn(dir: Path): List<String> = if (dir.exists()) dir.listDirectoryEntries().map { it.fileName.toString() }.sorted() else emptyList()

/** Collects the SDK's log events through the foreign-trait log hook. */
class LogCapture : PaySealLogger, AutoCloseable {
    private val events = CopyOnWriteArrayList<Pair<LogLevel, String>>()

    init {
        setLogger(this)
    }

    override fun log(level: LogLevel, message: String) {
        events += level to message
    }

    fun messages(): List<String> = events.map { it.second }

    /** Wait up to [timeoutMs] for an event matching [predicate]. */
    fun await(timeoutMs: Long, predicate: (String) -> Boolean): Boolean {
        val deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs)
        while (System.nanoTime() < deadline) {
            if (events.any { predicate(it.second) }) return true
            Thread.sleep(10)
        }
        return events.any { predicate(it.second) }
    }

    override fun close() = clearLogger()
}
