package dev.payseal

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

/**
 * Cancelling the coroutine of a suspend call in flight drops the Rust future, which aborts
 * the SDK's task: no retry, no pending file (not even a temporary one), no crash, and the
 * object stays usable. The verifier is frozen with SIGSTOP, so the kernel accepts the TCP
 * connection but the TLS handshake never gets an answer: the call is truly mid-request.
 *
 * The options make an abandoned task visible: 1 s connect and request timeouts, two
 * attempts, a 2.5 s deadline. Had the task survived the cancellation, it would log a failed
 * attempt and keep the receipt pending within 3 s; the tests wait longer and check.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CancellationTest {
    private lateinit var verifier: DevVerifier

    @BeforeAll
    fun startVerifier() {
        verifier = DevVerifier.started("cancel")
    }

    @AfterAll
    fun stopVerifier() {
        if (::verifier.isInitialized) verifier.close()
    }

    private fun options(pendingDir: java.nio.file.Path) = testOptions(
        listOf(verifier.certPem), pendingDir,
        maxAttempts = 2, connectTimeoutMs = 1_000, requestTimeoutMs = 1_000, deadlineMs = 2_500,
    )

    /** Runs [cancelIt] against the frozen verifier, then checks nothing is left behind. */
    private fun cancelledMidRequest(name: String, cancelIt: suspend CoroutineScope.(PaySeal, Receipt, LogCapture) -> Unit) {
        val pendingDir = TestEnv.newDir(name)
        val purchase = verifier.purchase()
        val receipt = purchase.receipt()
        val tag = receiptSha256(receipt).take(12)
        PaySeal(verifier.profileJson, options(pendingDir)).use { sdk ->
            LogCapture().use { logs ->
                verifier.pause()
                try {
                    runBlocking { cancelIt(sdk, receipt, logs) }
                    Thread.sleep(4_000) // longer than the deadline of an abandoned task
                    val events = logs.messages().filter { it.contains(tag) }
                    assertEquals(
                        listOf("attempt 1/2 for receipt $tag"), events,
                        "the cancelled call must not go on (no retry, no timeout, not kept)",
                    )
                    assertEquals(0L, sdk.pendingCount())
                    assertEquals(emptyList(), filesIn(pendingDir), "no pending file, no temporary file")
                } finally {
                    verifier.resume()
                }
            }
            // Still usable, and the abandoned request never reached the ledger.
            val verdict = runBlocking { sdk.verify(receipt, "alice") }
            assertTrue(verdict.paid, "verdict: $verdict")
            assertEquals(Redemption.FIRST, verdict.redemption)
            assertEquals(purchase.orderId, verdict.transactionId)
        }
    }

    @Test
    fun `cancelling the coroutine mid-request leaves nothing behind`() = cancelledMidRequest("cancel") { sdk, receipt, logs ->
        val call = async(Dispatchers.Default) { sdk.verify(receipt, "alice") }
        assertTrue(logs.await(10_000) { it.startsWith("attempt 1/2") }, "the request never started: ${logs.messages()}")
        delay(200) // inside the TLS handshake with the frozen server
        assertTrue(call.isActive, "the call should still be waiting for the frozen verifier")
        val t0 = System.nanoTime()
        call.cancel()
        assertFailsWith<CancellationException> { call.await() }
        val ms = (System.nanoTime() - t0) / 1_000_000
        assertTrue(call.isCancelled)
        assertTrue(ms < 500, "cancellation took $ms ms")
    }

    @Test
    fun `withTimeout shorter than the request cancels it and leaves nothing behind`() = cancelledMidRequest("timeout") { sdk, receipt, _ ->
        assertFailsWith<TimeoutCancellationException> {
            withTimeout(400) { sdk.verify(receipt, "alice") }
        }
    }

    @Test
    fun `retryPending is cancellable too, and the receipt stays pending`() {
        val pendingDir = TestEnv.newDir("cancel-retry")
        val receipt = verifier.purchase().receipt()
        PaySeal(verifier.profileJson, options(pendingDir)).use { sdk ->
            verifier.stop()
            runBlocking { assertFailsWith<PaySealException.Network> { sdk.verify(receipt, "alice") } }
            assertEquals(1L, sdk.pendingCount())
            verifier.start()
            verifier.pause()
            try {
                runBlocking {
                    assertFailsWith<TimeoutCancellationException> { withTimeout(400) { sdk.retryPending() } }
                }
                Thread.sleep(3_000)
                assertEquals(listOf("${receiptSha256(receipt)}.json"), filesIn(pendingDir), "kept, no temporary file")
            } finally {
                verifier.resume()
            }
            val results = runBlocking { sdk.retryPending() }
            assertTrue((results.single().outcome as PendingOutcome.Verified).verdict.paid)
            assertEquals(0L, sdk.pendingCount())
        }
    }
}
