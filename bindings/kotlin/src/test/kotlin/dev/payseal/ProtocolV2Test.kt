package dev.payseal

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Protocol v2's verdict fields through the generated Kotlin API: `subscriptionState`,
 * `storeChecked` and the reasons ON_HOLD, PAUSED, REFUND_LIMIT. No verifier path signs them
 * yet (the stores' live checks are issues 23 and 24), so a `payseal-mitm --mode resign` relay
 * holding the real `payseal-verifier dev`'s own keys changes the verifier's verdict and signs
 * and seals it again, as a live-checking verifier would; everything else is the real path
 * (pinned TLS, sealed envelopes, the SDK's checks).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ProtocolV2Test {
    private lateinit var verifier: DevVerifier

    @BeforeAll
    fun startVerifier() {
        verifier = DevVerifier.started("protocol-v2")
    }

    @AfterAll
    fun stopVerifier() {
        if (::verifier.isInitialized) verifier.close()
    }

    private fun verifyThrough(claimsJson: String, account: String): Verdict =
        MitmRelay.resigning(verifier, claimsJson).use { relay ->
            PaySeal(relay.profileJson, testOptions(listOf(verifier.certPem), maxAttempts = 1)).use { sdk ->
                runBlocking { sdk.verify(verifier.purchase().receipt(), account) }
            }
        }

    @Test
    fun `a live-checked subscription in its grace period carries its state and storeChecked`() {
        val v = verifyThrough("""{"subscription_state":"in_grace_period","store_checked":true}""", "alice")
        assertTrue(v.paid, "verdict: $v")
        assertEquals(SubscriptionState.IN_GRACE_PERIOD, v.subscriptionState)
        assertEquals(true, v.storeChecked)

        val unchecked = verifyThrough("""{"subscription_state":"canceled","store_checked":false}""", "alice")
        assertTrue(unchecked.paid)
        assertEquals(SubscriptionState.CANCELED, unchecked.subscriptionState)
        assertEquals(false, unchecked.storeChecked)
    }

    @Test
    fun `the v2 reasons reach the app`() {
        for ((wire, reason) in listOf(
            "on_hold" to NotPaidReason.ON_HOLD,
            "paused" to NotPaidReason.PAUSED,
            "refund_limit" to NotPaidReason.REFUND_LIMIT,
        )) {
            val v = verifyThrough(
                """{"outcome":"not_paid","reason":"$wire","redemption":null,"subscription_state":"on_hold"}""",
                "bob",
            )
            assertFalse(v.paid, "verdict: $v")
            assertEquals(reason, v.reason)
            assertNull(v.redemption)
            assertEquals(SubscriptionState.ON_HOLD, v.subscriptionState)
            assertNull(v.storeChecked, "absent: no live check")
        }
    }

    @Test
    fun `a verdict of a verifier without live checks has neither field`() = runBlocking<Unit> {
        PaySeal(verifier.profileJson, testOptions(listOf(verifier.certPem))).use { sdk ->
            val v = sdk.verify(verifier.purchase().receipt(), "carol")
            assertTrue(v.paid)
            assertNull(v.subscriptionState)
            assertNull(v.storeChecked)
        }
    }
}
