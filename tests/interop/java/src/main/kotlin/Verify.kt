// Verifies PaySeal verdict tokens with nimbus-jose-jwt (+ Tink for Ed25519), libraries PaySeal did
// not write, using only the JWKS the live verifier publishes at GET /v1/keys, fetched by nimbus's
// remote JWK source over HTTPS with the verifier's self-signed dev certificate trusted explicitly
// (a TrustStore made from its PEM; no verification is turned off).
//
// Usage: mvn -q compile exec:java -Dexec.args="JWKS_URL CA_PEM ISSUER APP TOKEN_FILE..."
//
// The same cases as tests/interop/python/verify.py: each token must verify (EdDSA only, typ
// payseal-verdict+jwt, the issuer, a known kid); each tampered copy of it (payload changed, alg
// switched to HS256 or none, unknown kid, typ JWT) must be refused, and so must the genuine token
// when another issuer is expected, each with the expected exception. Then the book's grant: app
// and outcome == "paid", each jti once, each purchase once: of the paid tokens, the first of each
// purchase (store + transaction_id) delivers it and every later one (re-verifications: fresh jti,
// redemption repeat) is "already delivered"; the tokens of one purchase granted from as many
// threads at once deliver it once. Prints one line per check and `java: N passed, N failed`;
// exits 1 on any failure.
package dev.payseal.interop

import com.nimbusds.jose.JOSEException
import com.nimbusds.jose.JOSEObjectType
import com.nimbusds.jose.JWSAlgorithm
import com.nimbusds.jose.JWSHeader
import com.nimbusds.jose.JWSVerifier
import com.nimbusds.jose.crypto.Ed25519Verifier
import com.nimbusds.jose.jca.JCAContext
import com.nimbusds.jose.jwk.JWKMatcher
import com.nimbusds.jose.jwk.JWKSelector
import com.nimbusds.jose.jwk.OctetKeyPair
import com.nimbusds.jose.jwk.source.JWKSource
import com.nimbusds.jose.jwk.source.JWKSourceBuilder
import com.nimbusds.jose.jwk.source.RateLimitReachedException
import com.nimbusds.jose.proc.BadJOSEException
import com.nimbusds.jose.proc.BadJWSException
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier
import com.nimbusds.jose.proc.JWSKeySelector
import com.nimbusds.jose.proc.JWSVerifierFactory
import com.nimbusds.jose.proc.SecurityContext
import com.nimbusds.jose.util.Base64URL
import com.nimbusds.jose.util.DefaultResourceRetriever
import com.nimbusds.jose.util.JSONObjectUtils
import com.nimbusds.jose.util.ResourceRetriever
import com.nimbusds.jwt.JWTClaimsSet
import com.nimbusds.jwt.proc.BadJWTException
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier
import com.nimbusds.jwt.proc.DefaultJWTProcessor
import java.io.File
import java.net.URL
import java.security.Key
import java.security.KeyStore
import java.security.PublicKey
import java.security.cert.CertificateFactory
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import javax.net.ssl.SSLContext
import javax.net.ssl.SSLHandshakeException
import javax.net.ssl.SSLSocketFactory
import javax.net.ssl.TrustManagerFactory
import kotlin.system.exitProcess

// ---- the book's Kotlin example (docs/src/delivery.md, "Delivering to your server") ---------------

/** The verifier's JWK Set, fetched when first needed, cached, refetched (rate-limited) on a new kid. */
fun verdictKeys(url: URL, retriever: ResourceRetriever = DefaultResourceRetriever()): JWKSource<SecurityContext> =
    JWKSourceBuilder.create<SecurityContext>(url, retriever).build()

/** PaySeal verdicts only: typ payseal-verdict+jwt, EdDSA with a key of [keys], then the claims. */
fun verdictProcessor(keys: JWKSource<SecurityContext>, exact: JWTClaimsSet, required: Set<String>) =
    DefaultJWTProcessor<SecurityContext>().apply {
        jwsTypeVerifier = DefaultJOSEObjectTypeVerifier(JOSEObjectType("payseal-verdict+jwt"))
        jwsKeySelector = ed25519Keys(keys) // not JWSVerificationKeySelector: it finds no Ed25519 key
        jwsVerifierFactory = Ed25519Verifiers
        jwtClaimsSetVerifier = DefaultJWTClaimsVerifier(exact, required)
    }

// nimbus's JWSVerificationKeySelector drops Ed25519 JWKs (KeyConverter makes no java.security.Key of
// an OctetKeyPair), so with it DefaultJWTProcessor refuses every EdDSA token ("no matching key(s)").
// These two adapters select the JWK named by the token's kid and verify with nimbus's Ed25519Verifier.
class Ed25519Jwk(val jwk: OctetKeyPair) : PublicKey {
    override fun getAlgorithm() = "Ed25519"
    override fun getFormat(): String? = null
    override fun getEncoded(): ByteArray? = null
}

fun ed25519Keys(keys: JWKSource<SecurityContext>) = JWSKeySelector<SecurityContext> { header, context ->
    if (header.algorithm != JWSAlgorithm.EdDSA) emptyList()
    else keys.get(JWKSelector(JWKMatcher.forJWSHeader(header)), context)
        .filterIsInstance<OctetKeyPair>().map { Ed25519Jwk(it.toPublicJWK()) }
}

object Ed25519Verifiers : JWSVerifierFactory {
    private val jca = JCAContext()
    override fun supportedJWSAlgorithms() = setOf(JWSAlgorithm.EdDSA)
    override fun getJCAContext() = jca
    override fun createJWSVerifier(header: JWSHeader, key: Key): JWSVerifier =
        Ed25519Verifier((key as? Ed25519Jwk ?: throw JOSEException("not an Ed25519 JWK")).jwk)
}

/** seen: each jti once (the token replay guard); delivered: each purchase once (your records). */
class Grants(keys: JWKSource<SecurityContext>, issuer: String, app: String,
             private val seen: OnceStore, private val delivered: OnceStore) {
    private val processor = verdictProcessor(keys,
        JWTClaimsSet.Builder().issuer(issuer).claim("app", app).claim("outcome", "paid").build(),
        setOf("sub", "iat", "exp", "jti", "store", "product_id", "transaction_id"))

    fun grant(token: String): Delivery {
        val c = processor.process(token, null) // throws on any refusal
        check(seen.claim(c.jwtid, c.expirationTime)) { "replayed" }
        // Each verification of a purchase has a new jti ("repeat" after the first): deliver by the
        // purchase, once. "repeat" means already delivered, unless your own records say not.
        val tx = c.getStringClaim("transaction_id")
        check(delivered.claim("${c.getStringClaim("app")}/${c.getStringClaim("store")}/$tx", c.jwtid)) { "already delivered" }
        return Delivery(c.subject, c.getStringClaim("product_id"), tx)
    }
}

data class Delivery(val account: String, val productId: String, val transactionId: String)

/** Each key once (several instances: a table with a unique key, claimed by INSERT). */
fun interface OnceStore {
    fun claim(key: String, value: Any): Boolean
}

class MemoryOnceStore : OnceStore {
    private val seen = ConcurrentHashMap<String, Any>()
    override fun claim(key: String, value: Any) = seen.putIfAbsent(key, value) == null
}

// ---- the test --------------------------------------------------------------------------------

/** TLS that trusts exactly the certificates in [pem] (the verifier's self-signed dev certificate). */
fun trusting(pem: File): SSLSocketFactory {
    val store = KeyStore.getInstance(KeyStore.getDefaultType()).apply { load(null, null) }
    pem.inputStream().use { input ->
        CertificateFactory.getInstance("X.509").generateCertificates(input).forEachIndexed { i, cert ->
            store.setCertificateEntry("payseal-dev-$i", cert)
        }
    }
    require(store.size() > 0) { "no certificate in $pem" }
    val trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).apply { init(store) }
    return SSLContext.getInstance("TLS").apply { init(null, trust.trustManagers, null) }.socketFactory
}

/** How a check must end: null = it must verify; else the refusal must match. */
class Refusal(val matches: (Exception) -> Boolean)

fun refusal(type: Class<out Exception>, message: String) =
    Refusal { type.isInstance(it) && (it.message ?: "").contains(message) }

// DefaultJWTProcessor reports an alg the key selector does not take (HS256) and a kid the JWKS lacks
// alike: no key.
val noKey = refusal(BadJOSEException::class.java,
    "Another algorithm expected, or no matching key(s) found")

// An unknown kid: the first makes the JWK source fetch the JWKS again (then no key); later ones
// within its rate limit (30 s) are refused without a fetch.
val unknownKid = Refusal {
    noKey.matches(it) || it is RateLimitReachedException
}

fun b64(obj: Map<String, Any?>): String = Base64URL.encode(JSONObjectUtils.toJSONString(obj)).toString()
fun unb64(part: String): Map<String, Any?> = JSONObjectUtils.parse(Base64URL(part).decodeToString())

/** The book's grant on the tokens (in order), then a used token, another app, and the tokens of
 *  the most verified purchase from as many threads at once. */
fun grants(keys: JWKSource<SecurityContext>, issuer: String, app: String, tokens: List<Pair<String, String>>,
           result: (Boolean, String) -> Unit) {
    val outcome = { g: Grants, token: String -> runCatching { g.grant(token) } }
    val grants = Grants(keys, issuer, app, MemoryOnceStore(), MemoryOnceStore())
    val byPurchase = linkedMapOf<String, MutableList<String>>() // purchase → its paid tokens, in order
    for ((file, token) in tokens) {
        val c = unb64(token.split(".")[1])
        val r = outcome(grants, token)
        if (c["outcome"] != "paid") {
            // outcome is not "paid" (a bad_signature verdict has no product_id either)
            val e = r.exceptionOrNull()
            val why = e?.message ?: ""
            result(e is BadJWTException && (why == "JWT outcome claim value rejected" || why.startsWith("JWT missing required claims")),
                "$file: README grant refuses ${c["outcome"]}/${c["reason"]} (${e?.javaClass?.simpleName ?: "delivered!"}: $why)")
            continue
        }
        val earlier = byPurchase.getOrPut("${c["app"]}/${c["store"]}/${c["transaction_id"]}") { mutableListOf() }
        earlier += token
        if (earlier.size == 1) {
            val d = r.getOrNull()
            result(d != null && d.account == c["sub"] && d.transactionId == c["transaction_id"],
                "$file: README grant delivers ${d?.productId} to ${d?.account} (tx ${c["transaction_id"]}, ${c["redemption"]})${r.exceptionOrNull()?.let { ": $it" } ?: ""}")
        } else {
            val e = r.exceptionOrNull()
            result(e is IllegalStateException && e.message == "already delivered",
                "$file: README grant, purchase ${c["transaction_id"]} verified again (${c["redemption"]}, new jti), not delivered again (${e ?: "delivered!"})")
        }
    }
    val most = byPurchase.values.maxByOrNull { it.size } ?: emptyList()
    result(most.size >= 3 && byPurchase.size >= 2,
        "the tokens cover one purchase verified ${most.size} times and ${byPurchase.size} purchases in all")
    if (most.isEmpty()) return
    val again = outcome(grants, most[0]).exceptionOrNull()
    result(again is IllegalStateException && again.message == "replayed", "README grant of a used token again, refused ($again)")
    val otherApp = outcome(Grants(keys, issuer, "com.other.app", MemoryOnceStore(), MemoryOnceStore()), most[0]).exceptionOrNull()
    result(otherApp is BadJWTException && otherApp.message == "JWT app claim value rejected",
        "README grant for another app, refused ($otherApp)")
    // All tokens of the purchase from as many threads at once, fresh records: one delivers.
    val racing = Grants(keys, issuer, app, MemoryOnceStore(), MemoryOnceStore())
    val gate = CountDownLatch(1)
    val pool = Executors.newFixedThreadPool(most.size)
    val all = most.map { token -> pool.submit<Result<Delivery>> { gate.await(); outcome(racing, token) } }
    gate.countDown()
    val results = all.map { it.get() }
    pool.shutdown()
    val wins = results.count { it.isSuccess }
    val others = results.count { r -> r.exceptionOrNull()?.let { it !is IllegalStateException || it.message != "already delivered" } ?: false }
    result(wins == 1 && others == 0,
        "README grant of the purchase's ${most.size} tokens from ${most.size} threads at once: delivered $wins time(s), $others other errors")
}

fun main(args: Array<String>) {
    if (args.singleOrNull() == "--versions") { // scripts/interop-go-java.sh prefetch: resolve all, run nothing
        val version = { c: Class<*> -> c.`package`.implementationVersion ?: "?" }
        Class.forName("com.google.crypto.tink.subtle.Ed25519Verify") // what Ed25519Verifier needs
        println("nimbus-jose-jwt ${version(JWTClaimsSet::class.java)} with Tink, Kotlin ${KotlinVersion.CURRENT}, Java ${Runtime.version()}")
        return
    }
    if (args.size < 5) {
        System.err.println("usage: mvn -q compile exec:java -Dexec.args=\"JWKS_URL CA_PEM ISSUER APP TOKEN_FILE...\"")
        exitProcess(2)
    }
    val (jwksUrl, caPem, issuer, app) = args
    val tokenFiles = args.drop(4)
    var passed = 0
    var failed = 0
    fun result(ok: Boolean, line: String) {
        if (ok) passed++ else failed++
        println((if (ok) "ok   " else "FAIL ") + line)
    }

    // The HTTPS is verified: without the dev certificate trusted the same URL is refused.
    try {
        DefaultResourceRetriever(5000, 5000).retrieveResource(URL(jwksUrl))
        result(false, "$jwksUrl without the dev certificate trusted: fetched, should not have been")
    } catch (e: Exception) {
        result(e is SSLHandshakeException, "$jwksUrl without the dev certificate trusted: refused (${e.javaClass.simpleName}: ${e.message})")
    }

    // nimbus's remote JWK source, its HTTPS through a TrustStore made from the dev certificate.
    val fetches = AtomicInteger()
    val https = DefaultResourceRetriever(5000, 5000, 512 * 1024, true, trusting(File(caPem)))
    val keys = verdictKeys(URL(jwksUrl)) { url -> fetches.incrementAndGet(); https.retrieveResource(url) }
    try {
        val kids = keys.get(JWKSelector(JWKMatcher.Builder().build()), null).map { it.keyID }
        result(kids.isNotEmpty(), "JWKS read over HTTPS from $jwksUrl: kids $kids")
    } catch (e: Exception) {
        result(false, "JWKS read over HTTPS from $jwksUrl: ${e.javaClass.simpleName}: ${e.message}")
    }

    // The token check alone (any outcome), as verify.py's: iss, iat, exp, jti, sub required.
    fun checker(iss: String) = verdictProcessor(keys, JWTClaimsSet.Builder().issuer(iss).build(),
        setOf("iss", "iat", "exp", "jti", "sub"))
    val check = checker(issuer)
    val checkOtherIssuer = checker("https://other.example")

    fun expect(name: String, token: String, refusal: Refusal?, other: Boolean = false, claims: (JWTClaimsSet) -> Boolean = { true }) {
        try {
            val c = (if (other) checkOtherIssuer else check).process(token, null)
            result(refusal == null && claims(c), if (refusal == null) name else "$name: verified but should not have")
        } catch (e: Exception) {
            if (refusal != null && refusal.matches(e)) result(true, "$name (refused: ${e.javaClass.simpleName}: ${e.message})")
            else result(false, "$name: ${e.javaClass.simpleName}: ${e.message}")
        }
    }

    // Subscriptions: a verified subscription token's kind and expires_at (Unix ms, the end of the
    // paid period, not the token's exp): paid → in the future; not_paid/expired → in the past.
    var paidSubscriptions = 0
    var expiredSubscriptions = 0
    fun subscriptionOk(c: JWTClaimsSet): Boolean {
        val kind = c.getStringClaim("kind") ?: return true
        if (kind !in setOf("consumable", "non_consumable", "subscription")) return false
        val end = c.getClaim("expires_at") ?: return true
        if (kind != "subscription") return true
        if (end !is Long || end <= c.expirationTime.time / 1000) return false
        val now = System.currentTimeMillis()
        return when {
            c.getStringClaim("outcome") == "paid" -> { paidSubscriptions++; end > now }
            c.getStringClaim("reason") == "expired" -> { expiredSubscriptions++; end <= now }
            else -> true
        }
    }

    val tokens = mutableListOf<Pair<String, String>>()
    for (file in tokenFiles) {
        val token = File(file).readText().trim()
        val (h, p, s) = token.split(".").also { require(it.size == 3) { "$file: not a compact JWS" } }
        val header = unb64(h)
        val payload = unb64(p)
        tokens += file to token

        expect("$file: genuine token verifies", token, null) { c ->
            c.getStringClaim("outcome") == payload["outcome"] && c.getStringClaim("receipt_sha256") == payload["receipt_sha256"] &&
                subscriptionOk(c)
        }
        val flipped = if (payload["outcome"] == "paid") "not_paid" else "paid"
        expect("$file: altered outcome refused", "$h.${b64(payload + ("outcome" to flipped))}.$s",
            refusal(BadJWSException::class.java, "Invalid signature"))
        expect("$file: alg HS256 refused", "${b64(header + ("alg" to "HS256"))}.$p.$s", noKey)
        expect("$file: alg none refused", "${b64(header + ("alg" to "none"))}.$p.",
            refusal(BadJOSEException::class.java, "Unsecured (plain) JWTs are rejected"))
        expect("$file: unknown kid refused", "${b64(header + ("kid" to "attacker"))}.$p.$s", unknownKid)
        expect("$file: typ JWT refused", "${b64(header + ("typ" to "JWT"))}.$p.$s",
            refusal(BadJOSEException::class.java, "typ (type) JWT not allowed"))
        expect("$file: another issuer expected, refused", token,
            refusal(BadJWTException::class.java, "JWT iss claim value rejected"), other = true)
    }
    result(paidSubscriptions >= 1 && expiredSubscriptions >= 1,
        "subscription tokens with kind and expires_at: $paidSubscriptions paid (until a future end), " +
            "$expiredSubscriptions not_paid/expired (a past end)")
    grants(keys, issuer, app, tokens, ::result)
    // The JWKS was fetched at start and once more for the first unknown kid (more only if the run
    // outlasted the source's 30 s rate limit).
    result(fetches.get() >= 2, "JWKS requests to the verifier: ${fetches.get()} (at start, then a refetch for an unknown kid)")

    println("java: $passed passed, $failed failed")
    if (failed > 0 || passed == 0) exitProcess(1)
}
