// Issue 14 through the bindings: a wrong device clock loses no paid purchase (the verdict
// echoes the request's nonce; its skew is reported), and `retryPending` sends pending files
// only for the client's own app id, refusing another app's file and a truncated one unsent.
import Foundation
import PaySeal
import XCTest

final class ClockAndPendingTests: XCTestCase {
    func testWrongDeviceClocksArePaidWithTheSkewReportedAndNothingPending() async throws {
        let verifier = try DevVerifier.started("clock")
        defer { verifier.stop() }
        for offset: Int64 in [-120, 3_600, 86_400] {
            let pendingDir = try TestEnv.newDir("clock-pending")
            let sdk = try PaySeal.newWithClockOffset(
                profileJson: verifier.profileJson,
                options: testOptions(roots: [verifier.certPem], pendingDir: pendingDir),
                clockOffsetSecs: offset)
            let verdict = try await sdk.verify(receipt: try verifier.purchase().receipt, accountId: "alice")
            XCTAssertTrue(verdict.paid, "clock \(offset) s: \(verdict)")
            XCTAssertEqual(verdict.redemption, .first)
            XCTAssertLessThanOrEqual(
                abs(verdict.deviceClockSkewSecs - offset), 5,
                "clock \(offset) s, skew \(verdict.deviceClockSkewSecs) s")
            XCTAssertEqual(try sdk.pendingCount(), 0, "clock \(offset) s: nothing pending")
            XCTAssertEqual(files(in: pendingDir), [])
        }
    }

    func testAnotherAppsPendingFileIsRefusedReportedAndNeverSent() async throws {
        let verifier = try DevVerifier.started("foreign")
        defer { verifier.stop() }
        let pendingDir = try TestEnv.newDir("foreign-pending")
        let roots = [verifier.certPem]
        let foreign = try verifier.purchase().receipt
        let own = try verifier.purchase().receipt

        // Kept while the verifier is down: one by a client of another app sharing the folder
        // (or a file edited to name it), one by this app.
        verifier.stop()
        var otherOptions = testOptions(roots: roots, pendingDir: pendingDir)
        otherOptions.appId = "com.other.game"
        let other = try PaySeal(profileJson: verifier.profileJson, options: otherOptions)
        _ = await asyncError { try await other.verify(receipt: foreign, accountId: "alice") }
        let sdk = try PaySeal(profileJson: verifier.profileJson, options: testOptions(roots: roots, pendingDir: pendingDir))
        _ = await asyncError { try await sdk.verify(receipt: own, accountId: "alice") }
        let foreignFile = pendingDir.appendingPathComponent("\(receiptSha256(receipt: foreign)).json")
        let before = try Data(contentsOf: foreignFile)

        try verifier.start()
        XCTAssertEqual(try sdk.pendingCount(), 2)
        let results = try await sdk.retryPending()
        XCTAssertEqual(results.count, 2)
        let refused = results.first { $0.receiptSha256 == receiptSha256(receipt: foreign) }
        guard case .refused(let kind, let message)? = refused?.outcome else {
            return XCTFail("expected refused, got \(results)")
        }
        XCTAssertEqual(kind, .invalidReceipt)
        XCTAssertTrue(message.contains("com.other.game") && message.contains("not sent"), message)
        XCTAssertEqual(refused?.appId, "com.other.game")
        let mine = results.first { $0.receiptSha256 == receiptSha256(receipt: own) }
        guard case .verified(let verdict)? = mine?.outcome else {
            return XCTFail("expected verified, got \(results)")
        }
        XCTAssertTrue(verdict.paid)
        XCTAssertEqual(verdict.appId, appId)

        // The refused file is left as it was, and it was never sent.
        XCTAssertEqual(try sdk.pendingCount(), 1)
        XCTAssertEqual(try Data(contentsOf: foreignFile), before)
        let control = try await sdk.verify(receipt: foreign, accountId: "control-account")
        XCTAssertTrue(control.paid)
        XCTAssertEqual(control.redemption, .first, "the refused file was never sent")
    }
}
