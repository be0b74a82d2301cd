// App Store auto-renewable subscriptions through the bindings: `kind`,
// `subscriptionExpiresAt` (Unix ms, not the token's `expiresAt`) and the `.expired` reason,
// against a real `payseal-verifier dev`.
import Foundation
import PaySeal
import XCTest

final class SubscriptionTests: XCTestCase {
    /// An App Store auto-renewable subscription from the sandbox store (`--type subscription ARGS`).
    private func appStoreSubscription(_ verifier: DevVerifier, _ args: [String]) throws -> Receipt {
        try verifier.sandboxReceipt("app-store", ["--product", "pro_monthly", "--type", "subscription"] + args)
    }

    func testCurrentSubscriptionIsPaidUntilItsEndAndAnExpiredOneIsExpired() async throws {
        let verifier = try DevVerifier.started("subscriptions")
        defer { verifier.stop() }
        let sdk = try PaySeal(profileJson: verifier.profileJson, options: testOptions(roots: [verifier.certPem]))
        let chain = "3000\(UInt32.random(in: 10_000_000...99_999_999))"
        let now = Int64(Date().timeIntervalSince1970 * 1000)

        let current = try await sdk.verifyCancellable(
            receipt: try appStoreSubscription(verifier, ["--expires-in", "30d", "--transaction-id", chain]),
            accountId: "alice")
        XCTAssertTrue(current.paid, "\(current)")
        XCTAssertEqual(current.redemption, .first)
        XCTAssertEqual(current.kind, .subscription)
        let end = try XCTUnwrap(current.subscriptionExpiresAt)
        XCTAssertGreaterThan(end, now + 29 * 86_400_000)
        XCTAssertLessThan(end, now + 31 * 86_400_000)
        XCTAssertLessThan(current.expiresAt * 1000, end, "the token's exp is not the subscription's end")

        let lapsed = try await sdk.verifyCancellable(
            receipt: try appStoreSubscription(verifier, ["--expires-in", "-365d", "--original-transaction-id", chain]),
            accountId: "alice")
        XCTAssertFalse(lapsed.paid)
        XCTAssertEqual(lapsed.reason, .expired)
        XCTAssertLessThan(try XCTUnwrap(lapsed.subscriptionExpiresAt), now)

        let renewed = try await sdk.verifyCancellable(
            receipt: try appStoreSubscription(verifier, ["--expires-in", "60d", "--original-transaction-id", chain]),
            accountId: "alice")
        XCTAssertTrue(renewed.paid, "\(renewed)")
        XCTAssertEqual(renewed.redemption, .repeat)
        XCTAssertGreaterThan(try XCTUnwrap(renewed.subscriptionExpiresAt), end)

        let stolen = try await sdk.verifyCancellable(
            receipt: try appStoreSubscription(verifier, ["--expires-in", "90d", "--original-transaction-id", chain]),
            accountId: "mallory")
        XCTAssertEqual(stolen.reason, .alreadyRedeemed)
    }
}
