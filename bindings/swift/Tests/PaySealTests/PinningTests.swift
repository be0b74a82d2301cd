// S130: a server whose chain is valid for the device but carries none of the profile's
// pins is not the verifier.
import Foundation
import PaySeal
import XCTest

final class PinningTests: XCTestCase {
    func testTrustedButUnpinnedCertificateIsPinMismatchNotRetriedNothingKept() async throws {
        let pinned = try DevVerifier.started("pinned")
        let impostor = try DevVerifier.started("unpinned")
        defer { pinned.stop(); impostor.stop() }
        // Both self-signed certificates are trusted roots; the profile is the first
        // verifier's, pointed at the second one's port (a DNS / routing takeover).
        let roots = [pinned.certPem, impostor.certPem]
        let hijacked = pinned.profileJson.replacingOccurrences(of: pinned.url, with: impostor.url)
        XCTAssertTrue(hijacked != pinned.profileJson && hijacked.contains(impostor.url))
        let pendingDir = try TestEnv.newDir("pin-pending")
        let receipt = try impostor.purchase().receipt

        let logs = LogCapture().install()
        let sdk = try PaySeal(profileJson: hijacked, options: testOptions(roots: roots, pendingDir: pendingDir, maxAttempts: 4))
        let error = await asyncError { try await sdk.verifyCancellable(receipt: receipt, accountId: "alice") }
        logs.uninstall()
        guard case .PinMismatch(let message)? = error as? PaySealError else {
            return XCTFail("expected PinMismatch, got \(String(describing: error))")
        }
        XCTAssertTrue(message.contains("pin"), message)
        XCTAssertEqual(try sdk.pendingCount(), 0, "a pin mismatch is never kept for retry")
        XCTAssertEqual(files(in: pendingDir), [])
        let attempts = logs.messages.filter { $0.hasPrefix("attempt ") }
        XCTAssertEqual(attempts.count, 1, "a pin mismatch is not retried: \(attempts)")

        // Control: the same roots and the impostor's own profile connect fine, so the refusal
        // above is the pin check, not an untrusted certificate or a dead port.
        let control = try PaySeal(profileJson: impostor.profileJson, options: testOptions(roots: roots))
        let verdict = try await control.verify(receipt: receipt, accountId: "alice")
        XCTAssertTrue(verdict.paid)
    }

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
