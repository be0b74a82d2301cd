package dev.payseal

import java.nio.file.Files
import java.nio.file.Path
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import kotlin.io.path.readText
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** The app's entitlements, as the verifier's config names them for these tests. */
const val ENTITLEMENTS_CONFIG = """[apps."dev.payseal.demo".entitlements]
premium = ["lifetime_pro", "pro_monthly"]
no_ads = ["remove_ads"]
coins = ["coin_pack"]
"""

/** A non-consumable of [product] in [store]'s real format (`huawei`, `sandbox`, `app-store`). */
fun DevVerifier.nonConsumable(store: String, product: String): Receipt =
    sandboxReceipt(store, "--product", product, "--type", "non-consumable")

/** (name, product) of each entitlement, in the answer's order. */
fun Entitlements.names(): List<Pair<String, String>> = entitlements.map { it.name to it.productId }

/**
 * Entitlements and restore through the generated API (`entitlements` suspend and blocking,
 * `restore`, `cachedEntitlements`) against a real `payseal-verifier dev` whose config maps
 * products to entitlements: the signed answer checked by the SDK, restore of several receipts
 * on a fresh client, the offline copy after the verifier stops, an edited copy refused.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EntitlementsTest {
    private lateinit var verifier: DevVerifier

    @BeforeAll
    fun startVerifier() {
        verifier = DevVerifier.startedWithConfig("entitlements", ENTITLEMENTS_CONFIG)
    }

    @AfterAll
    fun stopVerifier() {
        if (::verifier.isInitialized) verifier.close()
    }

    private fun sdk(entitlementsDir: Path? = null) =
        PaySeal(verifier.profileJson, testOptions(listOf(verifier.certPem), entitlementsDir = entitlementsDir))

    /** A fresh account per test, so the tests do not depend on each other's order. */
    private fun account(name: String) = "$name-${System.nanoTime()}"

    @Test
    fun `a non-consumable grants premium, suspend and blocking alike, a consumable grants nothing`() = runBlocking<Unit> {
        val alice = account("alice")
        sdk().use { sdk ->
            val lifetime = sdk.verify(verifier.nonConsumable("huawei", "lifetime_pro"), alice)
            assertTrue(lifetime.paid, "verdict: $lifetime")
            assertEquals(PurchaseKind.NON_CONSUMABLE, lifetime.kind)
            // Mapped to `coins` in the config, but a consumable: delivered once, never owned.
            val coins = sdk.verify(verifier.sandboxReceipt("huawei", "--product", "coin_pack"), alice)
            assertTrue(coins.paid, "verdict: $coins")
            assertEquals(PurchaseKind.CONSUMABLE, coins.kind)

            val answer = sdk.entitlements(alice)
            assertEquals(listOf("premium" to "lifetime_pro"), answer.names())
            val premium = answer.entitlements.single()
            assertEquals(Store.HUAWEI, premium.store)
            assertEquals(StoreEnvironment.SANDBOX, premium.environment)
            assertEquals(lifetime.transactionId, premium.transactionKey)
            assertEquals(PurchaseKind.NON_CONSUMABLE, premium.kind)
            assertNull(premium.expiresAt, "a non-consumable is for life")
            assertNull(premium.willRenew)
            val now = System.currentTimeMillis()
            assertTrue(premium.since in (now - 120_000)..(now + 60_000), "since ${premium.since}")
            assertEquals(alice, answer.accountId)
            assertEquals(APP_ID, answer.appId)
            assertFalse(answer.fromCache)
            assertTrue(answer.ageMs in -10_000..10_000, "age ${answer.ageMs}")
            assertTrue(answer.asOf in (now - 60_000)..(now + 60_000), "asOf ${answer.asOf}")
            assertTrue(answer.tokenExpiresAt > answer.issuedAt)
            assertEquals(3, answer.token.split('.').size, "a compact JWS")

            // The blocking call (Java, no coroutines): the same set, a new answer (fresh nonce).
            val again = sdk.entitlementsBlocking(alice)
            assertEquals(answer.names(), again.names())
            assertNotEquals(answer.answerId, again.answerId)
            assertNotEquals(answer.token, again.token)

            // Nobody else owns it; with no entitlementsDir nothing is kept.
            assertEquals(emptyList(), sdk.entitlements(account("bob")).entitlements)
            assertNull(sdk.cachedEntitlements(alice))
            assertFailsWith<PaySealException.InvalidReceipt> { sdk.entitlements(" ") }
        }
    }

    @Test
    fun `restore on a new device - several receipts in one call, each judged, the entitlements after them`() = runBlocking<Unit> {
        val alice = account("alice")
        val lifetime = verifier.nonConsumable("huawei", "lifetime_pro")
        val ads = verifier.nonConsumable("sandbox", "remove_ads")
        val monthly = verifier.sandboxReceipt(
            "app-store", "--product", "pro_monthly", "--type", "subscription", "--expires-in", "30d",
        )
        val gems = verifier.purchase().receipt()
        val genuineAds = verifier.nonConsumable("sandbox", "remove_ads") as Receipt.Sandbox
        val forged = Receipt.Sandbox(genuineAds.purchaseData.replace("remove_ads", "remove_adz"), genuineAds.signature)
        check(forged.purchaseData != genuineAds.purchaseData)

        // The old device redeemed the lifetime purchase.
        sdk().use { old -> assertTrue(old.verify(lifetime, alice).paid) }

        // The new device: a fresh client on a new, empty folder.
        val newDir = TestEnv.newDir("restore-cache")
        sdk(newDir).use { device ->
            assertNull(device.cachedEntitlements(alice), "nothing kept yet on the new device")
            val restored = device.restore(listOf(lifetime, ads, monthly, gems, forged), alice)

            assertEquals(5, restored.verdicts.size)
            assertEquals(
                listOf(
                    Triple(true, null, Redemption.REPEAT),
                    Triple(true, null, Redemption.FIRST),
                    Triple(true, null, Redemption.FIRST),
                    Triple(true, null, Redemption.FIRST),
                    Triple(false, NotPaidReason.BAD_SIGNATURE, null),
                ),
                restored.verdicts.map { Triple(it.paid, it.reason, it.redemption) },
            )
            // Each verdict is the one for its receipt, in order.
            assertEquals(
                listOf(lifetime, ads, monthly, gems, forged).map { receiptSha256(it) },
                restored.verdicts.map { it.receiptSha256 },
            )
            val e = restored.entitlements
            assertEquals(
                listOf("no_ads" to "remove_ads", "premium" to "lifetime_pro", "premium" to "pro_monthly"),
                e.names(),
            )
            val sub = e.entitlements[2]
            assertEquals(Store.APP_STORE, sub.store)
            assertEquals(PurchaseKind.SUBSCRIPTION, sub.kind)
            assertEquals(restored.verdicts[2].subscriptionExpiresAt, sub.expiresAt)
            val end = assertNotNull(sub.expiresAt)
            val now = System.currentTimeMillis()
            assertTrue(end > now + 29L * 86_400_000 && end < now + 31L * 86_400_000, "end $end")
            assertFalse(e.fromCache)

            // Kept on the new device, exactly the restore's answer.
            val kept = assertNotNull(device.cachedEntitlements(alice))
            assertEquals(e.token, kept.token)
            assertTrue(kept.fromCache)
            assertEquals(e.names(), kept.names())

            // Bob restoring alice's receipts (transfer = never): already redeemed, owns nothing.
            val bob = device.restoreBlocking(listOf(lifetime, ads), account("bob"))
            assertEquals(
                listOf(NotPaidReason.ALREADY_REDEEMED, NotPaidReason.ALREADY_REDEEMED),
                bob.verdicts.map { it.reason },
            )
            assertEquals(emptyList(), bob.entitlements.entitlements)

            // More than one batch: refused before anything is sent.
            assertEquals(50, maxRestoreReceipts())
            val tooMany = List(maxRestoreReceipts() + 1) { monthly }
            val e51 = assertFailsWith<PaySealException.InvalidReceipt> { device.restore(tooMany, alice) }
            assertTrue(e51.message!!.contains("at most 50"), e51.message)
            assertFailsWith<PaySealException.InvalidReceipt> { device.restoreBlocking(tooMany, alice) }
        }
    }

    @Test
    fun `offline the kept answer is used with its age, an edited copy is refused`() = runBlocking<Unit> {
        DevVerifier.startedWithConfig("entitlements-offline", ENTITLEMENTS_CONFIG).use { verifier ->
            val cacheDir = TestEnv.newDir("entitlements-cache")
            val options = testOptions(listOf(verifier.certPem), entitlementsDir = cacheDir, maxAttempts = 1)
            val online = PaySeal(verifier.profileJson, options).use { sdk ->
                assertTrue(sdk.verify(verifier.nonConsumable("sandbox", "lifetime_pro"), "alice").paid)
                val answer = sdk.entitlements("alice")
                assertEquals(listOf("premium" to "lifetime_pro"), answer.names())
                assertEquals(emptyList(), sdk.entitlements("bob").entitlements, "bob's empty answer is kept too")
                answer
            }
            val files = Files.list(cacheDir).use { s -> s.toList() }
            assertEquals(2, files.size, "one file per account: $files")
            val aliceFile = files.single { it.readText().trim() == online.token }
            val bobFile = files.single { it != aliceFile }

            verifier.stop()
            Thread.sleep(1_100)
            // The game starts offline (a new object on the same folder).
            PaySeal(verifier.profileJson, options).use { sdk ->
                val offline = sdk.entitlements("alice")
                assertTrue(offline.fromCache)
                assertEquals(online.token, offline.token)
                assertEquals(online.names(), offline.names())
                assertTrue(offline.ageMs >= 1_000, "age ${offline.ageMs}")
                assertTrue(sdk.entitlementsBlocking("alice").fromCache)
                assertEquals(online.token, assertNotNull(sdk.cachedEntitlements("alice")).token)

                // Never asked while online: no answer, none invented.
                val none = assertFailsWith<PaySealException.Network> { sdk.entitlements("carol") }
                assertTrue(none.message!!.contains("no entitlements answer kept offline"), none.message)
                assertNull(sdk.cachedEntitlements("carol"))

                // Bob's genuine (empty) answer copied over alice's file: refused.
                Files.copy(bobFile, aliceFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING)
                assertFailsWith<PaySealException.Tampered> { sdk.entitlements("alice") }
                assertFailsWith<PaySealException.Tampered> { sdk.cachedEntitlements("alice") }
                // One character of alice's own answer changed: refused.
                val token = online.token.toCharArray()
                val at = online.token.indexOf('.') + 10
                token[at] = if (token[at] == 'A') 'B' else 'A'
                Files.writeString(aliceFile, String(token))
                assertFailsWith<PaySealException.Tampered> { sdk.entitlements("alice") }
                assertFailsWith<PaySealException.Tampered> { sdk.entitlementsBlocking("alice") }
                assertFailsWith<PaySealException.Tampered> { sdk.cachedEntitlements("alice") }

                // Back online: a fresh answer replaces the edited copy.
                verifier.start()
                val fresh = sdk.entitlements("alice")
                assertFalse(fresh.fromCache)
                assertEquals(online.names(), fresh.names())
                assertEquals(fresh.token, assertNotNull(sdk.cachedEntitlements("alice")).token)
            }
        }
    }
}
