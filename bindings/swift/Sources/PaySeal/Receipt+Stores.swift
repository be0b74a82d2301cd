// Hand-written: building a `Receipt` from what the stores' client libraries return.
import Foundation
#if canImport(StoreKit)
import StoreKit
#endif

extension Receipt {
    /// Google Play Billing's `Purchase.originalJson` (exact string) and `Purchase.signature`,
    /// e.g. from a cross-platform app that shares purchase handling.
    public static func googlePlay(originalJson: String, signature: String) -> Receipt {
        .googlePlay(purchaseData: originalJson, signature: signature)
    }

    /// Huawei IAP: `InAppPurchaseData` (exact string), `inAppDataSignature`, and the
    /// `signatureAlgorithm` string (`"SHA256WithRSA"`, `"SHA256WithRSA/PSS"`, or nil/empty
    /// meaning `SHA256WithRSA`). Nil for any other algorithm name.
    public static func huawei(inAppPurchaseData: String, inAppDataSignature: String,
                              signatureAlgorithm: String? = nil) -> Receipt? {
        let algorithm: HuaweiAlgorithm
        switch signatureAlgorithm?.trimmingCharacters(in: .whitespaces).uppercased() ?? "" {
        case "", "SHA256WITHRSA": algorithm = .sha256WithRsa
        case "SHA256WITHRSA/PSS": algorithm = .sha256WithRsaPss
        default: return nil
        }
        return .huawei(purchaseData: inAppPurchaseData, signature: inAppDataSignature, algorithm: algorithm)
    }

    /// The original StoreKit: the app receipt on disk (`Bundle.main.appStoreReceiptURL`, Base64
    /// encoded as the verifier takes it) and the transaction of it to redeem
    /// (`SKPaymentTransaction.transactionIdentifier`). Nil when there is no receipt file yet
    /// (refresh it with `SKReceiptRefreshRequest`). With the receipt already in hand, build
    /// `.appStoreReceipt(appReceipt: base64, transactionId: id)` directly.
    public static func appStoreReceipt(contentsOf url: URL? = Bundle.main.appStoreReceiptURL,
                                       transactionId: String) -> Receipt? {
        guard let url = url, let data = try? Data(contentsOf: url), !data.isEmpty else { return nil }
        return .appStoreReceipt(appReceipt: data.base64EncodedString(), transactionId: transactionId)
    }

    /// Unity IAP's unified receipt (`product.receipt`), for apps that bridge to Unity: Google
    /// Play's `Payload.json` / `Payload.signature` byte for byte, or for `AppleAppStore` /
    /// `MacAppStore` the app receipt with its `TransactionID`. The SDK's one parser (the same the
    /// C# package and Kotlin call); throws `PaySealError.InvalidReceipt` naming what is wrong.
    public static func fromUnityIap(_ unifiedReceipt: String) throws -> Receipt {
        try receiptFromUnityIap(unified: unifiedReceipt)
    }
}

#if canImport(StoreKit)
@available(iOS 15.0, macOS 12.0, tvOS 15.0, watchOS 8.0, visionOS 1.0, *)
extension Receipt {
    /// StoreKit 2: the signed transaction as the App Store sent it (its `jwsRepresentation`),
    /// verified or not by StoreKit on the device: the verifier checks it independently.
    ///
    ///     let result = try await product.purchase()
    ///     if case .success(let verification) = result {
    ///         let verdict = try await paySeal.verifyCancellable(
    ///             receipt: Receipt(verification), accountId: accountId)
    ///     }
    public init(_ verification: VerificationResult<StoreKit.Transaction>) {
        self = .appStore(jws: verification.jwsRepresentation)
    }
}
#endif
