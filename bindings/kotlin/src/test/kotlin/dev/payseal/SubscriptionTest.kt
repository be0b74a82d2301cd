package dev.payseal

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * App Store auto-renewable subscriptions through the bindings: `kind`,
 * `subscriptionExpiresAt` (Unix ms, not the token's `expiresAt`) and the `EXPIRED` reason,
 * against a real `payseal-verifier dev`.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SubscriptionTest {
    private lateinit var verifier: DevVerifier
    private lateinit var paySeal: PaySeal

    @BeforeAll
    fun startVerifier() {
        verifier = DevVerifier.started("subscriptions")
        paySeal = PaySeal(verifier.profileJson, testOptions(listOf(verifier.certPem)))
    }

    @AfterAll
    fun stopVerifier() {
        if (::paySeal.isInitialized) paySeal.close()
        if (::verifier.isInitialized) verifier.close()
    }

    /** An App Store auto-renewable subscription from the sandbox store (`--type subscription ARGS`). */
    private fun appStoreSubscription(vararg args: String): Receipt =
        verifier.sandboxReceipt("app-store", "--product", "pro_monthly", "--type", "subscription", *args)

    @Test
    fun `a current subscription is paid until its end, an expired one is EXPIRED`() = runBlocking<Unit> {
        val chain = "20000${System.nanoTime() % 100000000}"
        val current = paySeal.verify(appStoreSubscription("--expires-in", "30d", "--transaction-id", chain), "alice")
        assertTrue(current.paid, "verdict: $current")
        assertEquals(Redemption.FIRST, current.redemption)
        assertEquals(PurchaseKind.SUBSCRIPTION, current.kind)
        val end = assertNotNull(current.subscriptionExpiresAt)
        val now = System.currentTimeMillis()
        assertTrue(end > now + 29L * 86_400_000 && end < now + 31L * 86_400_000, "end $end")
        // The token's expiry is seconds and minutes away; the subscription's is a month.
        assertTrue(current.expiresAt * 1000 < end)

        val lapsed = paySeal.verify(
            appStoreSubscription("--expires-in", "-365d", "--original-transaction-id", chain),
            "alice",
        )
        assertFalse(lapsed.paid)
        assertEquals(NotPaidReason.EXPIRED, lapsed.reason)
        assertTrue(assertNotNull(lapsed.subscriptionExpiresAt) < now)
        assertEquals(PurchaseKind.SUBSCRIPTION, lapsed.kind)

        val renewed = paySeal.verify(
            appStoreSubscription("--expires-in", "60d", "--original-transaction-id", chain),
            "alice",
        )
        assertTrue(renewed.paid, "verdict: $renewed")
        assertEquals(Redemption.REPEAT, renewed.redemption)
        assertTrue(assertNotNull(renewed.subscriptionExpiresAt) > end)

        val stolen = paySeal.verify(
            appStoreSubscription("--expires-in", "90d", "--original-transaction-id", chain),
            "mallory",
        )
        assertEquals(NotPaidReason.ALREADY_REDEEMED, stolen.reason)

        // A one-time Play product: no subscription end.
        val coins = paySeal.verify(verifier.purchase().receipt(), "alice")
        assertNull(coins.subscriptionExpiresAt)
    }
}
