package dev.payseal

import org.junit.jupiter.api.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/** Construction errors and the idiomatic receipt builders; no verifier needed. */
class ProfileAndReceiptsTest {
    private val profile: String by lazy {
        // A real profile, from a dev verifier's state (the verifier is stopped again at once).
        DevVerifier.started("profile").use { it.profileJson }
    }

    @Test
    fun `a bad profile fails at construction with InvalidProfile`() {
        for (bad in listOf("", "{}", "not json", profile.replace("\"version\": 1", "\"version\": 99"))) {
            val e = assertFailsWith<PaySealException.InvalidProfile>("profile: $bad") {
                PaySeal(bad, testOptions(emptyList())).close()
            }
            assertTrue(e.message!!.isNotBlank())
        }
    }

    @Test
    fun `an unknown profile field is refused (strict parsing)`() {
        val extended = profile.replaceFirst("{", "{\"surprise\": true,")
        assertFailsWith<PaySealException.InvalidProfile> { PaySeal(extended, testOptions(emptyList())).close() }
    }

    @Test
    fun `bad options and bad extra roots are InvalidProfile`() {
        assertFailsWith<PaySealException.InvalidProfile> {
            PaySeal(profile, testOptions(emptyList()).copy(deadlineMs = 0)).close()
        }
        assertFailsWith<PaySealException.InvalidProfile> {
            PaySeal(profile, testOptions(listOf("-----BEGIN NOTHING-----"))).close()
        }
        // The good profile with good options builds, and sends nothing.
        PaySeal(profile, testOptions(emptyList())).use { assertEquals(APP_ID, it.appId()) }
    }

    @Test
    fun `Receipts builds the store variants from what the store libraries return`() {
        assertEquals(Receipt.GooglePlay("{\"a\":1}", "c2ln"), Receipts.googlePlay("{\"a\":1}", "c2ln"))
        assertEquals(Receipt.AppStore("h.p.s"), Receipts.appStore("h.p.s"))
        assertEquals(HuaweiAlgorithm.SHA256_WITH_RSA, (Receipts.huawei("{}", "c2ln") as Receipt.Huawei).algorithm)
        assertEquals(HuaweiAlgorithm.SHA256_WITH_RSA, Receipts.huaweiAlgorithm("SHA256WithRSA"))
        assertEquals(HuaweiAlgorithm.SHA256_WITH_RSA, Receipts.huaweiAlgorithm(""))
        assertEquals(HuaweiAlgorithm.SHA256_WITH_RSA_PSS, Receipts.huaweiAlgorithm("SHA256WithRSA/PSS"))
        assertFailsWith<IllegalArgumentException> { Receipts.huaweiAlgorithm("MD5WithRSA") }
    }

    @Test
    fun `receipt JSON round-trips through the SDK, hash included`() {
        val r = Receipts.huawei("{\"orderId\":\"x\"}", "c2ln", Receipts.HUAWEI_PSS)
        val json = receiptToJson(r)
        assertTrue(json.contains("\"store\":\"huawei\""), json)
        assertEquals(r, Receipts.fromJson(json))
        assertEquals(receiptSha256(r), receiptSha256(Receipts.fromJson(json)))
        assertEquals(64, receiptSha256(r).length)
        assertFailsWith<PaySealException.InvalidReceipt> { Receipts.fromJson("{\"store\":\"amazon\"}") }
    }

    @Test
    fun `Unity IAP unified receipts parse through the SDK's one parser`() {
        val playJson = "{\"orderId\":\"GPA.1\",\"productId\":\"gems_100\",\"note\":\"a\\/b \\\"q\\\"\"}"
        val payload = "{\"json\":" + jsonString(playJson) + ",\"signature\":\"c2ln\"}"
        val play = "{\"Store\":\"GooglePlay\",\"TransactionID\":\"GPA.1\",\"Payload\":" + jsonString(payload) + "}"
        assertEquals(Receipts.googlePlay(playJson, "c2ln"), Receipts.fromUnityIap(play))
        val apple = "{\"Store\":\"AppleAppStore\",\"TransactionID\":\"1000000000000001\",\"Payload\":\"MIIT\"}"
        assertEquals(Receipts.appStoreReceipt("MIIT", "1000000000000001"), Receipts.fromUnityIap(apple))
        val e = assertFailsWith<PaySealException.InvalidReceipt> {
            Receipts.fromUnityIap("{\"Store\":\"AppleAppStore\",\"Payload\":\"MIIT\"}")
        }
        assertTrue(e.toString().contains("TransactionID"), e.toString())
        assertFailsWith<PaySealException.InvalidReceipt> { Receipts.fromUnityIap("{\"Store\":\"fake\"}") }
    }

    @Test
    fun `a sandbox app receipt is paid and is the same redemption as its JWS`() {
        DevVerifier.started("app-receipt").use { v ->
            PaySeal(v.profileJson, testOptions(listOf(v.certPem))).use { sdk ->
                val tx = "1000000" + (System.nanoTime() % 1_000_000_000L).toString().padStart(9, '0')
                val appReceipt = v.sandboxReceipt("app-store-receipt", "--product", "gems_100", "--transaction-id", tx)
                assertTrue(appReceipt is Receipt.AppStoreReceipt, "$appReceipt")
                val first = sdk.verifyBlocking(appReceipt, "alice")
                assertTrue(first.paid, "$first")
                assertEquals(Store.APP_STORE, first.store)
                assertEquals(tx, first.transactionId)
                val jws = v.sandboxReceipt("app-store", "--product", "gems_100", "--transaction-id", tx)
                assertEquals(Redemption.REPEAT, sdk.verifyBlocking(jws, "alice").redemption)
                assertEquals(NotPaidReason.ALREADY_REDEEMED, sdk.verifyBlocking(jws, "mallory").reason)
            }
        }
    }

    private fun jsonString(s: String): String =
        "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""
}
