// S130: WebPKI validation comes first. (A server whose chain is valid for the device but
// carries none of the profile's pins: AttackTests.testAttack05…PinMismatch.)
import Foundation
import PaySeal
import XCTest

final class PinningTests: XCTestCase {
    func testWithoutItsCertificateAsATrustRootTheVerifierIsNotTrusted() async throws {
        let v = try DevVerifier.started("untrusted")
        defer { v.stop() }
        // WebPKI validation is never switched off: the pin alone does not make a
        // self-signed certificate acceptable.
        let sdk = try PaySeal(profileJson: v.profileJson, options: testOptions(roots: [], maxAttempts: 1))
        let error = await asyncError { try await sdk.verify(receipt: try v.purchase().receipt, accountId: "alice") }
        guard case .Network(let message)? = error as? PaySealError else {
            return XCTFail("expected Network (untrusted certificate), got \(String(describing: error))")
        }
        XCTAssertTrue(message.lowercased().contains("certificate"), message)
    }
}
