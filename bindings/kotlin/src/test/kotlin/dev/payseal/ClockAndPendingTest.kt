package dev.payseal

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import kotlin.io.path.readBytes
import kotlin.io.path.writeBytes
import kotlin.math.abs
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertTrue

/**
 * Issue 14 through the bindings: a wrong device clock loses no paid purchase (the verdict
 * echoes the request's nonce; its skew is reported), and `retryPending` sends pending files
 * only for the client's own app id, refusing another app's file and a truncated one unsent.
 */
class ClockAndPendingTest {
    @Test
    fun `device clock 2 min behind, 1 h ahead, 1 day ahead - paid, skew reported, nothing pending`() = runBlocking<Unit> {
        DevVerifier.started("clock").use { verifier ->
            for (offset in listOf(-120L, 3_600L, 86_400L)) {
                val pendingDir = TestEnv.newDir("clock-pending")
                LogCapture().use { logs ->
                    PaySeal.newWithClockOffset(
                        verifier.profileJson, testOptions(listOf(verifier.certPem), pendingDir), offset,
                    ).use { sdk ->
                        val verdict = sdk.verify(verifier.purchase().receipt(), "alice")
                        assertTrue(verdict.paid, "clock $offset s: $verdict")
                        assertEquals(Redemption.FIRST, verdict.redemption)
                        assertTrue(
                            abs(verdict.deviceClockSkewSecs - offset) <= 5,
                            "clock $offset s, skew ${verdict.deviceClockSkewSecs} s",
                        )
                        assertEquals(0L, sdk.pendingCount(), "clock $offset s: nothing pending")
                        assertEquals(emptyList(), filesIn(pendingDir))
                    }
                    assertTrue(
                        logs.messages().any { it.contains("device clock skew ${if (offset > 0) "+" else "-"}") },
                        "skew event for $offset s: ${logs.messages()}",
                    )
                }
            }
        }
    }

    @Test
    fun `another app's pending file and a truncated one are refused, reported and never sent`() = runBlocking<Unit> {
        DevVerifier.started("foreign").use { verifier ->
            val pendingDir = TestEnv.newDir("foreign-pending")
            val roots = listOf(verifier.certPem)
            val foreign = verifier.purchase().receipt()
            val truncated = verifier.purchase().receipt()
            val own = verifier.purchase().receipt()

            // Receipts kept while the verifier is down: one by a client of another app sharing
            // the folder (or a file edited to name it), two by this app.
            verifier.stop()
            PaySeal(verifier.profileJson, testOptions(roots, pendingDir).copy(appId = "com.other.game")).use { other ->
                assertFailsWith<PaySealException.Network> { other.verify(foreign, "alice") }
            }
            PaySeal(verifier.profileJson, testOptions(roots, pendingDir)).use { sdk ->
                assertFailsWith<PaySealException.Network> { sdk.verify(truncated, "alice") }
                assertFailsWith<PaySealException.Network> { sdk.verify(own, "alice") }
            }
            val foreignFile = pendingDir.resolve("${receiptSha256(foreign)}.json")
            val foreignBytes = foreignFile.readBytes()
            val truncatedFile = pendingDir.resolve("${receiptSha256(truncated)}.json")
            truncatedFile.writeBytes(truncatedFile.readBytes().copyOf(40))

            verifier.start()
            PaySeal(verifier.profileJson, testOptions(roots, pendingDir)).use { sdk ->
                assertEquals(3L, sdk.pendingCount())
                val results = sdk.retryPending().associateBy { it.receiptSha256 }
                assertEquals(3, results.size)

                val refused = assertIs<PendingOutcome.Refused>(results.getValue(receiptSha256(foreign)).outcome)
                assertEquals(PaySealErrorKind.INVALID_RECEIPT, refused.kind)
                assertTrue(refused.message.contains("com.other.game") && refused.message.contains("not sent"), refused.message)
                assertEquals("com.other.game", results.getValue(receiptSha256(foreign)).appId)

                val unreadable = assertIs<PendingOutcome.Refused>(results.getValue(receiptSha256(truncated)).outcome)
                assertTrue(unreadable.message.contains("truncated"), unreadable.message)

                val verified = assertIs<PendingOutcome.Verified>(results.getValue(receiptSha256(own)).outcome)
                assertTrue(verified.verdict.paid)
                assertEquals(APP_ID, verified.verdict.appId)

                // The refused files are left as they are; only the verified one is gone.
                assertEquals(2L, sdk.pendingCount())
                assertContentEquals(foreignBytes, foreignFile.readBytes())

                // Neither was ever sent: the verifier has recorded them for nobody.
                for (receipt in listOf(foreign, truncated)) {
                    val v = sdk.verify(receipt, "control-account")
                    assertTrue(v.paid && v.redemption == Redemption.FIRST, "$v")
                }
            }
        }
    }
}
