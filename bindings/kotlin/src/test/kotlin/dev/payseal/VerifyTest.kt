package dev.payseal

import java.util.Base64
import java.util.concurrent.CompletableFuture
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The store answers through the generated suspend API and the idiomatic [Receipts] layer,
 * against one real `payseal-verifier dev` over pinned TLS with sealed envelopes.
 * Every test buys its own purchase, so the tests do not depend on each other's order.
 * Forged receipts, replays and repeats are in [AttackTest].
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class VerifyTest {
    private lateinit var verifier: DevVerifier
    private lateinit var paySeal: PaySeal

    @BeforeAll
    fun startVerifier() {
        verifier = DevVerifier.started("verify")
        paySeal = PaySeal(verifier.profileJson, testOptions(listOf(verifier.certPem)))
    }

    @AfterAll
    fun stopVerifier() {
        if (::paySeal.isInitialized) paySeal.close()
        if (::verifier.isInitialized) verifier.close()
    }

    @Test
    fun `a genuine Play purchase is paid, first redemption`() = runBlocking<Unit> {
        val purchase = verifier.purchase()
        val receipt = purchase.receipt()
        val verdict = paySeal.verify(receipt, "alice")

        assertTrue(verdict.paid, "verdict: $verdict")
        assertNull(verdict.reason)
        assertEquals(Redemption.FIRST, verdict.redemption)
        assertEquals(Store.GOOGLE_PLAY, verdict.store)
        assertEquals(StoreEnvironment.SANDBOX, verdict.environment)
        assertEquals("gems_100", verdict.productId)
        assertEquals(purchase.orderId, verdict.transactionId)
        assertEquals(1L, verdict.quantity)
        assertEquals("alice", verdict.accountId)
        assertEquals(APP_ID, verdict.appId)
        assertEquals(receiptSha256(receipt), verdict.receiptSha256)
        assertTrue(verdict.expiresAt > verdict.issuedAt)

        // The token to forward: a compact EdDSA JWS whose claims say the same.
        val parts = verdict.token.split('.')
        assertEquals(3, parts.size)
        val header = String(Base64.getUrlDecoder().decode(parts[0]))
        val claims = String(Base64.getUrlDecoder().decode(parts[1]))
        assertTrue(header.contains("\"alg\":\"EdDSA\"") && header.contains("payseal-verdict+jwt"), header)
        assertTrue(claims.contains("\"outcome\":\"paid\"") && claims.contains("\"sub\":\"alice\""), claims)
        assertTrue(claims.contains("\"jti\":\"${verdict.verdictId}\""), claims)
    }

    @Test
    fun `concurrent suspend calls on one object each get their own verdict`() = runBlocking<Unit> {
        val purchases = List(6) { verifier.purchase() }
        val verdicts = purchases.map { p ->
            async(Dispatchers.Default) { paySeal.verify(p.receipt(), "carol") }
        }.awaitAll()
        assertTrue(verdicts.all { it.paid && it.redemption == Redemption.FIRST }, "$verdicts")
        assertEquals(purchases.map { it.orderId }, verdicts.map { it.transactionId })
    }

    @Test
    fun `verifyBlocking serves callers without coroutines (Java)`() {
        val purchase = verifier.purchase()
        val verdict = CompletableFuture.supplyAsync { paySeal.verifyBlocking(purchase.receipt(), "dave") }.get()
        assertTrue(verdict.paid)
        assertEquals(Redemption.FIRST, verdict.redemption)
    }

    @Test
    fun `an empty signature is InvalidReceipt, before anything is sent`() = runBlocking<Unit> {
        val e = assertFailsWith<PaySealException.InvalidReceipt> {
            paySeal.verify(Receipts.googlePlay(verifier.purchase().originalJson, ""), "alice")
        }
        assertTrue(e.message!!.contains("signature"), e.message)
        assertFailsWith<PaySealException.InvalidReceipt> { paySeal.verify(verifier.purchase().receipt(), " ") }
    }

    @Test
    fun `the log hook gets events but no receipt content, token or nonce`() = runBlocking<Unit> {
        val purchase = verifier.purchase()
        val verdict = LogCapture().use { logs ->
            paySeal.verify(purchase.receipt(), "erin").also {
                assertTrue(logs.await(5_000) { m -> m.startsWith("verdict for receipt") }, "${logs.messages()}")
                val all = logs.messages().joinToString("\n")
                assertNotNull(all)
                for (secret in listOf(it.token, purchase.signature, purchase.orderId, it.token.split('.')[2])) {
                    assertFalse(all.contains(secret), "log leaks a secret: $all")
                }
                assertTrue(all.contains(it.receiptSha256.take(12)), "events name the receipt by hash prefix: $all")
            }
        }
        assertTrue(verdict.paid)
    }
}
