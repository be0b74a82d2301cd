// Protocol v2's verdict fields through the generated Swift API: `subscriptionState`,
// `storeChecked` and the reasons `.onHold`, `.paused`, `.refundLimit`. No verifier path signs
// them yet (the stores' live checks are issues 23 and 24), so a `payseal-mitm --mode resign`
// relay holding the real `payseal-verifier dev`'s own keys changes the verifier's verdict and
// signs and seals it again, as a live-checking verifier would; everything else is the real
// path (pinned TLS, sealed envelopes, the SDK's checks).
import Foundation
import PaySeal
import XCTest

final class ProtocolV2Tests: XCTestCase {
    private func verifyThrough(_ verifier: DevVerifier, claims: String, account: String) async throws -> Verdict {
        let relay = try MitmRelay.resigning(verifier, claimsJson: claims)
        defer { relay.stop() }
        let sdk = try PaySeal(profileJson: try relay.profileJson(),
                              options: testOptions(roots: [verifier.certPem], maxAttempts: 1))
        return try await sdk.verify(receipt: try verifier.purchase().receipt, accountId: account)
    }

    func testALiveCheckedSubscriptionCarriesItsStateAndStoreChecked() async throws {
        let verifier = try DevVerifier.started("protocol-v2-state")
        defer { verifier.stop() }
        let grace = try await verifyThrough(
            verifier, claims: #"{"subscription_state":"in_grace_period","store_checked":true}"#, account: "alice")
        XCTAssertTrue(grace.paid, "\(grace)")
        XCTAssertEqual(grace.subscriptionState, .inGracePeriod)
        XCTAssertEqual(grace.storeChecked, true)

        let unchecked = try await verifyThrough(
            verifier, claims: #"{"subscription_state":"canceled","store_checked":false}"#, account: "alice")
        XCTAssertTrue(unchecked.paid, "\(unchecked)")
        XCTAssertEqual(unchecked.subscriptionState, .canceled)
        XCTAssertEqual(unchecked.storeChecked, false)

        // The verifier itself, without live checks: neither field.
        let sdk = try PaySeal(profileJson: verifier.profileJson, options: testOptions(roots: [verifier.certPem]))
        let plain = try await sdk.verify(receipt: try verifier.purchase().receipt, accountId: "carol")
        XCTAssertTrue(plain.paid, "\(plain)")
        XCTAssertNil(plain.subscriptionState)
        XCTAssertNil(plain.storeChecked)
    }

    func testTheV2ReasonsReachTheApp() async throws {
        let verifier = try DevVerifier.started("protocol-v2-reasons")
        defer { verifier.stop() }
        let cases: [(String, NotPaidReason)] = [("on_hold", .onHold), ("paused", .paused), ("refund_limit", .refundLimit)]
        for (wire, reason) in cases {
            let v = try await verifyThrough(
                verifier,
                claims: #"{"outcome":"not_paid","reason":"\#(wire)","redemption":null,"subscription_state":"on_hold"}"#,
                account: "bob")
            XCTAssertFalse(v.paid, "\(v)")
            XCTAssertEqual(v.reason, reason)
            XCTAssertNil(v.redemption)
            XCTAssertEqual(v.subscriptionState, .onHold)
            XCTAssertNil(v.storeChecked, "absent: no live check")
        }
    }
}
