// The attack suite's cases marked * in issue 4 (numbered as there), through the generated
// Swift API against real `payseal-verifier dev` processes over pinned TLS:
//  1. a random signature on a Play purchase → not paid, badSignature;
//  2. the genuine signature over altered JSON (product, package, purchaseState) → badSignature;
//  5. a fake verifier with a trusted but unpinned certificate → PinMismatch, nothing sent;
//  7. an old paid answer replayed (by a relay holding the pinned certificate) as the answer to
//     a new request → Tampered;
//  8. a receipt replayed from another account → alreadyRedeemed; the same account → repeat.
// Each also shows that the verifier recorded no redemption it should not have: the genuine
// purchase behind a refused attempt is still a first redemption for its real buyer afterwards.
import Foundation
import PaySeal
import XCTest

final class AttackTests: XCTestCase {
    private static var verifier: DevVerifier?
    private static var sdk: PaySeal?

    override class func setUp() {
        super.setUp()
        do {
            let v = try DevVerifier.started("attacks")
            verifier = v
            sdk = try PaySeal(profileJson: v.profileJson, options: testOptions(roots: [v.certPem]))
        } catch {
            print("AttackTests setUp failed: \(error)") // every test then fails in fixture()
        }
    }

    override class func tearDown() {
        sdk = nil
        verifier?.stop()
        verifier = nil
        super.tearDown()
    }

    private func fixture() throws -> (DevVerifier, PaySeal) {
        guard let v = Self.verifier, let s = Self.sdk else {
            throw TestSetupError(description: "the verifier did not start (see the log above)")
        }
        return (v, s)
    }

    private func assertBadSignature(_ verdict: Verdict, _ what: String = "", line: UInt = #line) {
        XCTAssertFalse(verdict.paid, "\(what) \(verdict)", line: line)
        XCTAssertEqual(verdict.reason, .badSignature, "\(what) \(verdict)", line: line)
        XCTAssertNil(verdict.redemption, what, line: line)
        XCTAssertFalse(verdict.token.isEmpty, "a not-paid verdict is signed too", line: line)
    }

    /// Nothing was redeemed under the purchase's order id: its buyer still gets `.first`.
    private func assertStillFirst(_ sdk: PaySeal, _ purchase: PlayPurchase, buyer: String, line: UInt = #line) async throws {
        let verdict = try await sdk.verify(receipt: purchase.receipt, accountId: buyer)
        XCTAssertTrue(verdict.paid, "\(verdict)", line: line)
        XCTAssertEqual(verdict.redemption, .first, "the refused attempt redeemed \(purchase.orderId)", line: line)
        XCTAssertEqual(verdict.accountId, buyer, line: line)
    }

    func testAttack01RandomSignatureIsBadSignature() async throws {
        let (verifier, sdk) = try fixture()
        let genuine = try verifier.purchase()
        let forged = try genuine.withRandomSignature()
        XCTAssertEqual(forged.originalJson, genuine.originalJson)
        XCTAssertNotEqual(forged.signature, genuine.signature)

        assertBadSignature(try await sdk.verify(receipt: forged.receipt, accountId: "mallory"))
        try await assertStillFirst(sdk, genuine, buyer: "alice")
    }

    func testAttack02GenuineSignatureOverAlteredJsonIsBadSignature() async throws {
        let (verifier, sdk) = try fixture()
        let genuine = try verifier.purchase()
        let variants: [(String, PlayPurchase)] = [
            ("product", try genuine.altered("\"productId\":\"gems_100\"", "\"productId\":\"gems_10000\"")),
            ("package", try genuine.altered("\"packageName\":\"\(appId)\"", "\"packageName\":\"\(appId).pro\"")),
            ("purchaseState", try genuine.altered("\"purchaseState\":0", "\"purchaseState\":1")),
        ]
        for (what, forged) in variants {
            XCTAssertEqual(forged.orderId, genuine.orderId, what)
            XCTAssertEqual(forged.signature, genuine.signature, what)
            assertBadSignature(try await sdk.verify(receipt: forged.receipt, accountId: "mallory"), "\(what) altered:")
        }
        try await assertStillFirst(sdk, genuine, buyer: "alice")
    }

    func testAttack05FakeVerifierWithTrustedUnpinnedCertificateIsPinMismatch() async throws {
        let (verifier, _) = try fixture()
        let impostor = try DevVerifier.started("unpinned")
        defer { impostor.stop() }
        // Both self-signed certificates are trusted roots (the CA the device trusts); the
        // profile is the real verifier's, pointed at the impostor's port (a DNS / routing
        // takeover). Only the pins tell them apart.
        let roots = [verifier.certPem, impostor.certPem]
        let hijacked = verifier.profileJson.replacingOccurrences(of: verifier.url, with: impostor.url)
        XCTAssertTrue(hijacked != verifier.profileJson && hijacked.contains(impostor.url))
        let pendingDir = try TestEnv.newDir("pin-pending")
        let purchase = try impostor.purchase()

        let logs = LogCapture().install()
        let sdk = try PaySeal(profileJson: hijacked, options: testOptions(roots: roots, pendingDir: pendingDir, maxAttempts: 4))
        let error = await asyncError { try await sdk.verifyCancellable(receipt: purchase.receipt, accountId: "alice") }
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
        // above is the pin check, not an untrusted certificate or a dead port; and the receipt
        // is still a first redemption there: no request reached the impostor.
        let control = try PaySeal(profileJson: impostor.profileJson, options: testOptions(roots: roots))
        let verdict = try await control.verify(receipt: purchase.receipt, accountId: "alice")
        XCTAssertTrue(verdict.paid, "\(verdict)")
        XCTAssertEqual(verdict.redemption, .first, "the impostor got the request before")
    }

    func testAttack07OldPaidVerdictReplayedToNewRequestIsTampered() async throws {
        let (verifier, direct) = try fixture()
        let relay = try MitmRelay(verifier, mode: "replay-first-response")
        defer { relay.stop() }
        let sdk = try PaySeal(profileJson: try relay.profileJson(), options: testOptions(roots: [verifier.certPem], maxAttempts: 1))

        // Through the relay: the first answer passes (and is recorded by the relay).
        let bought = try verifier.purchase()
        let old = try await sdk.verify(receipt: bought.receipt, accountId: "alice")
        XCTAssertTrue(old.paid, "\(old)")
        XCTAssertEqual(old.redemption, .first)

        // A forged receipt, answered with that old paid verdict: refused.
        let genuine = try verifier.purchase()
        let forged = try genuine.withRandomSignature()
        let error = await asyncError { try await sdk.verify(receipt: forged.receipt, accountId: "mallory") }
        guard case .Tampered(let message)? = error as? PaySealError else {
            return XCTFail("expected Tampered, got \(String(describing: error))")
        }
        XCTAssertFalse(message.isEmpty)
        // The same receipt and account as the old verdict, with a new request: refused too.
        let again = await asyncError { try await sdk.verifyCancellable(receipt: bought.receipt, accountId: "alice") }
        guard case .Tampered(_)? = again as? PaySealError else {
            return XCTFail("expected Tampered, got \(String(describing: again))")
        }
        XCTAssertEqual(try relay.reportCount("requests"), 3)
        XCTAssertEqual(try relay.reportCount("responses_altered"), 2)

        // The forgery redeemed nothing; the receipt behind the old verdict is alice's.
        try await assertStillFirst(direct, genuine, buyer: "bob")
        let repeated = try await direct.verify(receipt: bought.receipt, accountId: "alice")
        XCTAssertEqual(repeated.redemption, .repeat, "\(repeated)")
    }

    func testAttack08ReplayFromAnotherAccountIsAlreadyRedeemedSameAccountIsRepeat() async throws {
        let (verifier, sdk) = try fixture()
        let receipt = try verifier.purchase().receipt
        let first = try await sdk.verify(receipt: receipt, accountId: "alice")
        XCTAssertTrue(first.paid, "\(first)")
        XCTAssertEqual(first.redemption, .first)

        for other in ["bob", "carol"] {
            let replay = try await sdk.verify(receipt: receipt, accountId: other)
            XCTAssertFalse(replay.paid, "\(replay)")
            XCTAssertEqual(replay.reason, .alreadyRedeemed)
            XCTAssertNil(replay.redemption)
            XCTAssertEqual(replay.accountId, other)
        }

        let again = try await sdk.verify(receipt: receipt, accountId: "alice")
        XCTAssertTrue(again.paid, "\(again)")
        XCTAssertEqual(again.redemption, .repeat)
        XCTAssertEqual(again.transactionId, first.transactionId)
        XCTAssertNotEqual(again.verdictId, first.verdictId, "each verification gets its own verdict")
        // The replays did not take it over: bob is still refused after the owner's repeat.
        let bob = try await sdk.verify(receipt: receipt, accountId: "bob")
        XCTAssertEqual(bob.reason, .alreadyRedeemed)
    }
}
