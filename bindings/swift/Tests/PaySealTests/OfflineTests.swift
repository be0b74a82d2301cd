// A purchase is never silently lost: no verdict → kept pending → retried after a restart.
import Foundation
import PaySeal
import XCTest

final class OfflineTests: XCTestCase {
    func testVerifierStoppedNetworkKeptPendingThenRetryPendingAfterRestartIsPaid() async throws {
        let verifier = try DevVerifier.started("offline")
        defer { verifier.stop() }
        let pendingDir = try TestEnv.newDir("offline-pending")
        let options = testOptions(roots: [verifier.certPem], pendingDir: pendingDir, maxAttempts: 2)
        let receipt = try verifier.purchase().receipt
        let hash = receiptSha256(receipt: receipt)

        verifier.stop()
        do {
            let sdk = try PaySeal(profileJson: verifier.profileJson, options: options)
            let error = await asyncError { try await sdk.verify(receipt: receipt, accountId: "alice") }
            guard case .Network(let message)? = error as? PaySealError else {
                return XCTFail("expected Network, got \(String(describing: error))")
            }
            XCTAssertTrue(message.contains("kept pending"), message)
            XCTAssertEqual(try sdk.pendingCount(), 1)
            XCTAssertEqual(files(in: pendingDir), ["\(hash).json"])

            // Still down: the retry says so and keeps the receipt.
            let stillDown = try await sdk.retryPending()
            XCTAssertEqual(stillDown.count, 1)
            guard case .stillPending(let kind, _)? = stillDown.first?.outcome else {
                return XCTFail("expected stillPending, got \(stillDown)")
            }
            XCTAssertEqual(kind, .network)
            XCTAssertEqual(try sdk.pendingCount(), 1)

            // The same receipt failing again is still one pending entry.
            _ = await asyncError { try await sdk.verify(receipt: receipt, accountId: "alice") }
            XCTAssertEqual(try sdk.pendingCount(), 1)
        }

        // The app is relaunched (a new object on the same pending dir); the verifier is back
        // on the same state dir: same keys, certificate and ledger.
        try verifier.start()
        let sdk = try PaySeal(profileJson: verifier.profileJson, options: options)
        XCTAssertEqual(try sdk.pendingCount(), 1, "pending receipts survive the app")
        let results = try await sdk.retryPending()
        XCTAssertEqual(results.count, 1)
        XCTAssertEqual(results.first?.receiptSha256, hash)
        XCTAssertEqual(results.first?.accountId, "alice")
        XCTAssertEqual(results.first?.appId, appId)
        guard case .verified(let verdict)? = results.first?.outcome else {
            return XCTFail("expected verified, got \(results)")
        }
        XCTAssertTrue(verdict.paid, "\(verdict)")
        XCTAssertEqual(verdict.redemption, .first)
        XCTAssertEqual(try sdk.pendingCount(), 0)
        XCTAssertEqual(files(in: pendingDir), [])
        let nothingLeft = try await sdk.retryPending()
        XCTAssertEqual(nothingLeft, [])
    }
}
