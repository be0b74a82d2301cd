package example

import com.sun.jna.NativeLibrary
import com.sun.jna.Platform
import dev.payseal.PaySeal
import dev.payseal.PaySealException
import dev.payseal.Redemption
import dev.payseal.defaultOptions
import dev.payseal.receiptFromJson
import java.nio.file.Path
import kotlin.io.path.readText
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking

/** What scripts/test-kotlin-package.sh sets; a missing one fails the test (never a skip). */
private fun env(name: String): String =
    System.getenv(name)?.takeIf { it.isNotBlank() }
        ?: error("$name is not set: run this project through scripts/test-kotlin-package.sh")

class ConsumerTest {
    private val app = env("PAYSEAL_CONSUMER_APP")

    private fun paySeal(): PaySeal {
        val options = defaultOptions(app)
        options.extraRootsPem = listOf(Path.of(env("PAYSEAL_CONSUMER_CA")).readText())
        options.maxAttempts = 1
        return PaySeal(Path.of(env("PAYSEAL_CONSUMER_PROFILE")).readText(), options)
    }

    @Test
    fun `the native library comes from the jar, not from jna library path`() {
        assertNull(System.getProperty("jna.library.path"), "the consumer must not set jna.library.path")
        val resource = "${Platform.RESOURCE_PREFIX}/${System.mapLibraryName("payseal_sdk_core")}"
        val url = assertNotNull(javaClass.classLoader.getResource(resource), "$resource not on the class path")
        assertTrue(url.toString().startsWith("jar:") && url.toString().contains("payseal-kotlin"), "$url")
        paySeal().close() // loads the library
        val loaded = NativeLibrary.getInstance("payseal_sdk_core").file
        val cargoTarget = Path.of(env("PAYSEAL_CONSUMER_CARGO_TARGET")).toAbsolutePath()
        assertTrue(!loaded.toPath().toAbsolutePath().startsWith(cargoTarget), "loaded $loaded from cargo's folder")
    }

    @Test
    fun `a genuine purchase is paid by the real verifier, a replay from another account is not`() = runBlocking<Unit> {
        paySeal().use { sdk ->
            val receipt = receiptFromJson(Path.of(env("PAYSEAL_CONSUMER_RECEIPT")).readText())
            val verdict = sdk.verify(receipt, "consumer-alice")
            assertTrue(verdict.paid, "$verdict")
            assertEquals(Redemption.FIRST, verdict.redemption)
            assertEquals(app, verdict.appId)
            assertEquals(3, verdict.token.split('.').size)
            val replay = sdk.verifyBlocking(receipt, "consumer-mallory")
            assertTrue(!replay.paid, "$replay")
            assertEquals("ALREADY_REDEEMED", replay.reason?.name)
        }
    }

    @Test
    fun `a profile that does not parse is a typed exception through the packaged library`() {
        assertFailsWith<PaySealException.InvalidProfile> { PaySeal("{}", defaultOptions(app)) }
    }
}
