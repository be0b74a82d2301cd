package dev.payseal

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The attack suite's cases marked * in issue 4 (numbered as there), through the generated
 * Kotlin API against real `payseal-verifier dev` processes over pinned TLS:
 *  1. a random signature on a Play purchase → not paid, BAD_SIGNATURE;
 *  2. the genuine signature over altered JSON (product, package, purchaseState) → BAD_SIGNATURE;
 *  5. a fake verifier with a trusted but unpinned certificate → PinMismatch, nothing sent;
 *  7. an old paid answer replayed (by a relay holding the pinned certificate) as the answer to
 *     a new request → Tampered;
 *  8. a receipt replayed from another account → ALREADY_REDEEMED; the same account → REPEAT.
 * Each also shows that the verifier recorded no redemption it should not have: the genuine
 * purchase behind a refused attempt is still a FIRST redemption for its real buyer afterwards.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AttackTest {
    private lateinit var verifier: DevVerifier
    private lateinit var paySeal: PaySeal

    @BeforeAll
    fun startVerifier() {
        verifier = DevVerifier.started("attacks")
        paySeal = PaySeal(verifier.profileJson, testOptions(listOf(verifier.certPem)))
    }

    @AfterAll
    fun stopVerifier() {
        if (::paySeal.isInitialized) paySeal.close()
        if (::verifier.isInitialized) verifier.close()
    }

    private fun assertBadSignature(verdict: Verdict) {
        assertFalse(verdict.paid, "verdict: $verdict")
        assertEquals(NotPaidReason.BAD_SIGNATURE, verdict.reason)
        assertNull(verdict.redemption)
        assertTrue(verdict.token.isNotEmpty(), "a not-paid verdict is signed too")
    }

    /** Nothing was redeemed under the purchase's order id: its buyer still gets FIRST. */
    private suspend fun assertStillFirst(purchase: PlayPurchase, buyer: String) {
        val verdict = paySeal.verify(purchase.receipt(), buyer)
        assertTrue(verdict.paid, "verdict: $verdict")
        assertEquals(Redemption.FIRST, verdict.redemption, "the refused attempt redeemed ${purchase.orderId}")
        assertEquals(buyer, verdict.accountId)
    }

    @Test
    fun attack01RandomSignatureIsBadSignature() = runBlocking<Unit> {
        val genuine = verifier.purchase()
        val forged = genuine.withRandomSignature()
        assertEquals(genuine.originalJson, forged.originalJson)

        assertBadSignature(paySeal.verify(forged.receipt(), "mallory"))
        assertStillFirst(genuine, "alice")
    }

    @Test
    fun attack02GenuineSignatureOverAlteredJsonIsBadSignature() = runBlocking<Unit> {
        val genuine = verifier.purchase()
        val variants = mapOf(
            "product" to genuine.altered("\"productId\":\"gems_100\"", "\"productId\":\"gems_10000\""),
            "package" to genuine.altered("\"packageName\":\"$APP_ID\"", "\"packageName\":\"$APP_ID.pro\""),
            "purchaseState" to genuine.altered("\"purchaseState\":0", "\"purchaseState\":1"),
        )
        for ((what, forged) in variants) {
            assertEquals(genuine.orderId, forged.orderId, what)
            assertEquals(genuine.signature, forged.signature, what)
            val verdict = paySeal.verify(forged.receipt(), "mallory")
            assertEquals(NotPaidReason.BAD_SIGNATURE, verdict.reason, "$what altered: $verdict")
            assertBadSignature(verdict)
        }
        assertStillFirst(genuine, "alice")
    }

    @Test
    fun attack05FakeVerifierWithTrustedUnpinnedCertificateIsPinMismatch() = runBlocking<Unit> {
        DevVerifier.started("unpinned").use { impostor ->
            // Both self-signed certificates are trusted roots (the CA the device trusts); the
            // profile is the real verifier's, pointed at the impostor's port (a DNS / routing
            // takeover). Only the pins tell them apart.
            val roots = listOf(verifier.certPem, impostor.certPem)
            val hijacked = verifier.profileJson.replace(verifier.url, impostor.url)
            assertTrue(hijacked != verifier.profileJson && hijacked.contains(impostor.url))
            val pendingDir = TestEnv.newDir("pin-pending")
            val purchase = impostor.purchase()

            LogCapture().use { logs ->
                PaySeal(hijacked, testOptions(roots, pendingDir, maxAttempts = 4)).use { sdk ->
                    val e = assertFailsWith<PaySealException.PinMismatch> { sdk.verify(purchase.receipt(), "alice") }
                    assertTrue(e.message!!.contains("pin"), e.message)
                    assertEquals(0L, sdk.pendingCount(), "a pin mismatch is never kept for retry")
                }
                val attempts = logs.messages().filter { it.startsWith("attempt ") }
                assertEquals(1, attempts.size, "a pin mismatch is not retried: $attempts")
            }
            assertEquals(emptyList(), filesIn(pendingDir))

            // Control: the same roots and the impostor's own profile connect fine, so the
            // refusal above is the pin check, not an untrusted certificate or a dead port; and
            // the receipt is still a FIRST redemption there: no request reached the impostor.
            PaySeal(impostor.profileJson, testOptions(roots)).use { sdk ->
                val verdict = sdk.verify(purchase.receipt(), "alice")
                assertTrue(verdict.paid, "verdict: $verdict")
                assertEquals(Redemption.FIRST, verdict.redemption, "the impostor got the request before")
            }
        }
    }

    @Test
    fun attack07OldPaidVerdictReplayedToNewRequestIsTampered() = runBlocking<Unit> {
        MitmRelay(verifier, "replay-first-response").use { relay ->
            PaySeal(relay.profileJson, testOptions(listOf(verifier.certPem), maxAttempts = 1)).use { sdk ->
                // Through the relay: the first answer passes (and is recorded by the relay).
                val bought = verifier.purchase()
                val old = sdk.verify(bought.receipt(), "alice")
                assertTrue(old.paid && old.redemption == Redemption.FIRST, "verdict: $old")

                // A forged receipt, answered with that old paid verdict: refused.
                val genuine = verifier.purchase()
                val forged = genuine.withRandomSignature()
                val e = assertFailsWith<PaySealException.Tampered> { sdk.verify(forged.receipt(), "mallory") }
                assertTrue(e.message!!.isNotBlank())
                // The same receipt and account as the old verdict, with a new request: refused too.
                assertFailsWith<PaySealException.Tampered> { sdk.verify(bought.receipt(), "alice") }
                assertEquals(3L, relay.reportCount("requests"), relay.reportJson())
                assertEquals(2L, relay.reportCount("responses_altered"), relay.reportJson())

                // The forgery redeemed nothing; the receipt behind the old verdict is alice's.
                assertStillFirst(genuine, "bob")
                val again = paySeal.verify(bought.receipt(), "alice")
                assertEquals(Redemption.REPEAT, again.redemption, "verdict: $again")
            }
        }
    }

    @Test
    fun attack08ReplayFromAnotherAccountIsAlreadyRedeemedSameAccountIsRepeat() = runBlocking<Unit> {
        val purchase = verifier.purchase()
        val first = paySeal.verify(purchase.receipt(), "alice")
        assertTrue(first.paid, "verdict: $first")
        assertEquals(Redemption.FIRST, first.redemption)

        for (other in listOf("bob", "carol")) {
            val replay = paySeal.verify(purchase.receipt(), other)
            assertFalse(replay.paid, "verdict: $replay")
            assertEquals(NotPaidReason.ALREADY_REDEEMED, replay.reason)
            assertNull(replay.redemption)
            assertEquals(other, replay.accountId)
        }

        val again = paySeal.verify(purchase.receipt(), "alice")
        assertTrue(again.paid, "verdict: $again")
        assertEquals(Redemption.REPEAT, again.redemption)
        assertEquals(first.transactionId, again.transactionId)
        assertTrue(first.verdictId != again.verdictId, "each verification gets its own verdict")
        // The replays did not take it over: bob is still refused after the owner's repeat.
        assertEquals(NotPaidReason.ALREADY_REDEEMED, paySeal.verify(purchase.receipt(), "bob").reason)
    }
}
