package dev.payseal

import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Test

/**
 * Generic check that holds for any UniFFI bindings generated into package dev.payseal:
 * JNA finds the cdylib on jna.library.path, and the generated Kotlin matches it
 * (UniFFI contract version and API checksums are verified on first use).
 */
class BindingsLoadTest {
    @Test
    fun cdylibLoadsAndMatchesTheGeneratedKotlin() {
        assertNotNull(System.getProperty("jna.library.path"), "jna.library.path not set (use scripts/test-kotlin.sh)")
        uniffiEnsureInitialized()
    }
}
