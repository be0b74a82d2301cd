package dev.payseal

/**
 * Builds a [Receipt] from exactly what each store's client library hands the app, so the
 * app never re-encodes purchase data (a re-serialised JSON no longer matches its signature).
 *
 * ```kotlin
 * // Play Billing: in onPurchasesUpdated / queryPurchasesAsync
 * val receipt = Receipts.googlePlay(purchase.originalJson, purchase.signature)
 * val verdict = paySeal.verify(receipt, accountId)      // suspend; verifyBlocking(...) from Java
 * ```
 *
 * Java: `Receipts.googlePlay(purchase.getOriginalJson(), purchase.getSignature())`.
 */
object Receipts {
    /** Huawei's `signatureAlgorithm` value for PKCS#1 v1.5 (also what an absent value means). */
    const val HUAWEI_PKCS1 = "SHA256WithRSA"

    /** Huawei's `signatureAlgorithm` value for RSA-PSS. */
    const val HUAWEI_PSS = "SHA256WithRSA/PSS"

    /**
     * Google Play Billing: `Purchase.getOriginalJson()` (the exact string, never parsed and
     * re-serialised) and `Purchase.getSignature()` (Base64 SHA1withRSA by the app's Play key).
     */
    @JvmStatic
    fun googlePlay(originalJson: String, signature: String): Receipt =
        Receipt.GooglePlay(purchaseData = originalJson, signature = signature)

    /**
     * App Store (StoreKit 2): `VerificationResult<Transaction>.jwsRepresentation`, e.g. when a
     * Kotlin Multiplatform app shares its purchase code with iOS.
     */
    @JvmStatic
    fun appStore(jwsRepresentation: String): Receipt = Receipt.AppStore(jws = jwsRepresentation)

    /**
     * An App Store app receipt (the original StoreKit: the Base64 contents of
     * `Bundle.main.appStoreReceiptURL`) and the in-app transaction of it to redeem.
     */
    @JvmStatic
    fun appStoreReceipt(appReceipt: String, transactionId: String): Receipt =
        Receipt.AppStoreReceipt(appReceipt = appReceipt, transactionId = transactionId)

    /**
     * Unity IAP's unified receipt (`product.receipt`), for apps that bridge to Unity: Google
     * Play's `Payload.json` / `Payload.signature` byte for byte, or for `AppleAppStore` /
     * `MacAppStore` the app receipt with its `TransactionID`. The SDK's one parser (the same
     * the C# package and Swift call).
     *
     * @throws PaySealException.InvalidReceipt naming what is wrong.
     */
    @JvmStatic
    @Throws(PaySealException::class)
    fun fromUnityIap(unifiedReceipt: String): Receipt = receiptFromUnityIap(unifiedReceipt)

    /**
     * Huawei IAP: `InAppPurchaseData` (the exact string), `inAppDataSignature`, and
     * `signatureAlgorithm` as the IAP result gives them (`"SHA256WithRSA"`,
     * `"SHA256WithRSA/PSS"`, or null/empty from older kits, meaning `SHA256WithRSA`).
     *
     * @throws IllegalArgumentException for any other algorithm name (the verifier would refuse it).
     */
    @JvmStatic
    @JvmOverloads
    fun huawei(inAppPurchaseData: String, inAppDataSignature: String, signatureAlgorithm: String? = null): Receipt =
        Receipt.Huawei(
            purchaseData = inAppPurchaseData,
            signature = inAppDataSignature,
            algorithm = huaweiAlgorithm(signatureAlgorithm),
        )

    /** Huawei's `signatureAlgorithm` string as a [HuaweiAlgorithm] (null or blank: PKCS#1 v1.5). */
    @JvmStatic
    fun huaweiAlgorithm(signatureAlgorithm: String?): HuaweiAlgorithm =
        when (signatureAlgorithm?.trim()?.uppercase()) {
            null, "", HUAWEI_PKCS1.uppercase() -> HuaweiAlgorithm.SHA256_WITH_RSA
            HUAWEI_PSS.uppercase() -> HuaweiAlgorithm.SHA256_WITH_RSA_PSS
            else -> throw IllegalArgumentException(
                "unsupported Huawei signatureAlgorithm \"$signatureAlgorithm\" " +
                    "(expected \"$HUAWEI_PKCS1\" or \"$HUAWEI_PSS\")",
            )
        }

    /** The stable receipt JSON (what `payseal-sandbox` prints, and what pending files hold). */
    @JvmStatic
    @Throws(PaySealException::class)
    fun fromJson(json: String): Receipt = receiptFromJson(json)
}
