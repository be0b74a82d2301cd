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
 * Issue 11, product and account binding, through the generated Kotlin API against a real
 * `payseal-verifier dev` over pinned TLS, with store-format purchases from the sandbox store:
 *  - a genuine cheap receipt answering an expensive purchase (a Freedom-style substitution)
 *    is not paid, WRONG_PRODUCT, and not consumed: the same receipt for its own product is
 *    paid, FIRST;
 *  - a purchase whose `obfuscatedAccountId` / `appAccountToken` is another account's token
 *    is not paid, WRONG_ACCOUNT; its own account is paid.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BindingTest {
    private lateinit var verifier: DevVerifier
    private lateinit var paySeal: PaySeal

    @BeforeAll
    fun startVerifier() {
        verifier = DevVerifier.started("binding")
        paySeal = PaySeal(verifier.profileJson, testOptions(listOf(verifier.certPem)))
    }

    @AfterAll
    fun stopVerifier() {
        if (::paySeal.isInitialized) paySeal.close()
        if (::verifier.isInitialized) verifier.close()
    }

    @Test
    fun `a cheap receipt answering an expensive purchase is WRONG_PRODUCT and not consumed`() = runBlocking<Unit> {
        for (store in listOf("google-play", "app-store")) {
            val cheap = verifier.issue(store, product = "gems_100")
            val refused = paySeal.verify(cheap, "alice", expectedProductId = "gems_10000")
            assertFalse(refused.paid, "$store: $refused")
            assertEquals(NotPaidReason.WRONG_PRODUCT, refused.reason, store)
            assertNull(refused.redemption)
            assertEquals("gems_100", refused.productId, "the verdict names what the receipt is")

            val paid = paySeal.verify(cheap, "alice", "gems_100")
            assertTrue(paid.paid, "$store: $paid")
            assertEquals(Redemption.FIRST, paid.redemption, "$store: the refused attempt consumed the receipt")

            // The blocking form, and a repeat presentation for the expensive product.
            val again = paySeal.verifyBlocking(cheap, "alice", "gems_10000")
            assertEquals(NotPaidReason.WRONG_PRODUCT, again.reason, store)
            // Without a product (calls written before the parameter existed): a repeat.
            assertEquals(Redemption.REPEAT, paySeal.verify(cheap, "alice").redemption, store)
        }
    }

    @Test
    fun `a purchase bound to another account is WRONG_ACCOUNT`() = runBlocking<Unit> {
        // What the app sets at purchase time: Play setObfuscatedAccountId(token), StoreKit 2
        // .appAccountToken(UUID(uuidString: token)).
        val aliceToken = accountTokenUuidV5(DEV_ACCOUNT_NAMESPACE, "alice")
        assertEquals(36, aliceToken.length)
        for (store in listOf("google-play", "app-store")) {
            val bound = verifier.issue(store, accountToken = aliceToken)
            val stolen = paySeal.verify(bound, "mallory")
            assertFalse(stolen.paid, "$store: $stolen")
            assertEquals(NotPaidReason.WRONG_ACCOUNT, stolen.reason, store)
            val own = paySeal.verify(bound, "alice", "gems_100")
            assertTrue(own.paid, "$store: $own")
            assertEquals(Redemption.FIRST, own.redemption, "$store: the refused attempt redeemed it")
        }
        // The helper refuses a namespace that is not a UUID.
        assertFailsWith<PaySealException.InvalidProfile> { accountTokenUuidV5("not-a-uuid", "alice") }
        assertEquals(64, accountTokenSha256Hex("alice").length)
    }
}
