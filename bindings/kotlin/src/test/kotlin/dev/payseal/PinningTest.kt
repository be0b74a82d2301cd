package dev.payseal

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/**
 * S130: WebPKI validation comes first. (A server whose chain is valid for the device but
 * carries none of the profile's pins: [AttackTest.attack05FakeVerifierWithTrustedUnpinnedCertificateIsPinMismatch].)
 */
class PinningTest {
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
