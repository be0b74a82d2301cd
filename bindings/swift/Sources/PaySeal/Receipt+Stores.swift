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
