package dev.payseal

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertTrue

/** A purchase is never silently lost: no verdict → kept pending → retried after a restart. */
class OfflineTest {
    @Test
    fun `verifier stopped - Network, receipt kept pending, retryPending after restart - paid`() = runBlocking<Unit> {
        DevVerifier.started("offline").use { verifier ->
            val pendingDir = TestEnv.newDir("offline-pending")
            val options = testOptions(listOf(verifier.certPem), pendingDir, maxAttempts = 2)
            val receipt = verifier.purchase().receipt()
            val hash = receiptSha256(receipt)

            verifier.stop()
            PaySeal(verifier.profileJson, options).use { sdk ->
                val e = assertFailsWith<PaySealException.Network> { sdk.verify(receipt, "alice") }
                assertTrue(e.message!!.contains("kept pending"), e.message)
                assertEquals(1L, sdk.pendingCount())
                assertEquals(listOf("$hash.json"), filesIn(pendingDir))

                // Still down: the retry reports it and keeps the receipt.
                val stillDown = sdk.retryPending()
                assertEquals(1, stillDown.size)
                val outcome = assertIs<PendingOutcome.StillPending>(stillDown[0].outcome)
                assertEquals(PaySealErrorKind.NETWORK, outcome.kind)
                assertEquals(1L, sdk.pendingCount())

                // The same receipt failing again is still one pending entry, not two.
                assertFailsWith<PaySealException.Network> { sdk.verify(receipt, "alice") }
                assertEquals(1L, sdk.pendingCount())
            }

            // The app is relaunched (a new object on the same pending dir) and the verifier is
            // back on the same state dir: same keys, same certificate, same ledger.
            verifier.start()
            PaySeal(verifier.profileJson, options).use { sdk ->
                assertEquals(1L, sdk.pendingCount(), "pending receipts survive the app")
                val results = sdk.retryPending()
                assertEquals(1, results.size)
                assertEquals(hash, results[0].receiptSha256)
                assertEquals("alice", results[0].accountId)
                assertEquals(APP_ID, results[0].appId)
                val verified = assertIs<PendingOutcome.Verified>(results[0].outcome)
                assertTrue(verified.verdict.paid, "verdict: ${verified.verdict}")
                assertEquals(Redemption.FIRST, verified.verdict.redemption)
                assertEquals(0L, sdk.pendingCount())
                assertEquals(emptyList(), filesIn(pendingDir))
                assertEquals(emptyList(), sdk.retryPending(), "nothing left to retry")
            }
        }
    }
}
