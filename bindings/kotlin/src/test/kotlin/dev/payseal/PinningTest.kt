package dev.payseal

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/**
 * S130: a server whose certificate chain is valid for the device (its root is trusted) but
 * carries none of the profile's pins is not the verifier.
 */
class PinningTest {
    @Test
    fun `a trusted but unpinned certificate is PinMismatch, not retried, nothing kept`() = runBlocking<Unit> {
        DevVerifier.started("pinned").use { pinned ->
            DevVerifier.started("unpinned").use { impostor ->
                // Both self-signed certificates are trusted roots; the profile is the first
                // verifier's, pointed at the second one's port (a DNS / routing takeover).
                val roots = listOf(pinned.certPem, impostor.certPem)
                val hijacked = pinned.profileJson.replace(pinned.url, impostor.url)
                assertTrue(hijacked != pinned.profileJson && hijacked.contains(impostor.url))
                val pendingDir = TestEnv.newDir("pin-pending")
                val receipt = impostor.purchase().receipt()

                LogCapture().use { logs ->
                    PaySeal(hijacked, testOptions(roots, pendingDir, maxAttempts = 4)).use { sdk ->
                        val e = assertFailsWith<PaySealException.PinMismatch> { sdk.verify(receipt, "alice") }
                        assertTrue(e.message!!.contains("pin"), e.message)
                        assertEquals(0L, sdk.pendingCount(), "a pin mismatch is never kept for retry")
                    }
                    val attempts = logs.messages().filter { it.startsWith("attempt ") }
                    assertEquals(1, attempts.size, "a pin mismatch is not retried: $attempts")
                }
                assertEquals(emptyList(), filesIn(pendingDir))

                // Control: the same roots and the impostor's own profile connect fine, so the
                // refusal above is the pin check, not an untrusted certificate or a dead port.
                PaySeal(impostor.profileJson, testOptions(roots)).use { sdk ->
                    assertTrue(sdk.verify(receipt, "alice").paid)
                }
            }
        }
    }

    @Test
    fun `without its certificate as a trust root the verifier is not trusted at all`() = runBlocking<Unit> {
        DevVerifier.started("untrusted").use { v ->
            // WebPKI validation is the first gate and is never switched off: the pin alone
            // does not make a self-signed certificate acceptable.
            PaySeal(v.profileJson, testOptions(emptyList(), maxAttempts = 1)).use { sdk ->
                val e = assertFailsWith<PaySealException.Network> { sdk.verify(v.purchase().receipt(), "alice") }
                assertTrue(e.message!!.contains("certificate", ignoreCase = true), e.message)
            }
        }
    }
}
