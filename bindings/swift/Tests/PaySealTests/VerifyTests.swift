// The store answers through the generated async API and the hand-written Swift layer,
// against one real `payseal-verifier dev` over pinned TLS with sealed envelopes. Every
// test buys its own purchase, so the order of the tests does not matter. Forged receipts,
// replays and repeats are in AttackTests.
import Foundation
import PaySeal
import XCTest

final class VerifyTests: XCTestCase {
    private static var verifier: DevVerifier?
    private static var sdk: PaySeal?

    override class func setUp() {
        super.setUp()
        do {
            let v = try DevVerifier.started("verify")
            verifier = v
            sdk = try PaySeal(profileJson: v.profileJson, options: testOptions(roots: [v.certPem]))
        } catch {
            print("VerifyTests setUp failed: \(error)") // every test then fails in fixture()
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

    func testGenuinePlayPurchaseIsPaidFirstRedemption() async throws {
        let (verifier, sdk) = try fixture()
        let purchase = try verifier.purchase()
        let verdict = try await sdk.verifyCancellable(receipt: purchase.receipt, accountId: "alice")

        XCTAssertTrue(verdict.paid, "\(verdict)")
        XCTAssertNil(verdict.reason)
        XCTAssertEqual(verdict.redemption, .first)
        XCTAssertEqual(verdict.store, .googlePlay)
        XCTAssertEqual(verdict.environment, StoreEnvironment.sandbox)
        XCTAssertEqual(verdict.productId, "gems_100")
        XCTAssertEqual(verdict.transactionId, purchase.orderId)
        XCTAssertEqual(verdict.quantity, 1)
        XCTAssertEqual(verdict.accountId, "alice")
        XCTAssertEqual(verdict.appId, appId)
        XCTAssertEqual(verdict.receiptSha256, receiptSha256(receipt: purchase.receipt))
        XCTAssertGreaterThan(verdict.expiresAt, verdict.issuedAt)

        // The token to forward: a compact EdDSA JWS whose claims say the same.
        let parts = verdict.token.split(separator: ".").map(String.init)
        XCTAssertEqual(parts.count, 3)
        let header = try base64url(parts[0]), claims = try base64url(parts[1])
        XCTAssertTrue(header.contains("\"alg\":\"EdDSA\"") && header.contains("payseal-verdict+jwt"), header)
        XCTAssertTrue(claims.contains("\"outcome\":\"paid\"") && claims.contains("\"sub\":\"alice\""), claims)
        XCTAssertTrue(claims.contains("\"jti\":\"\(verdict.verdictId)\""), claims)
    }

    func testAnAppReceiptIsPaidAndIsTheSameRedemptionAsItsJws() async throws {
        let (verifier, sdk) = try fixture()
        let tx = "1000000" + String(format: "%09d", Int(Date().timeIntervalSince1970 * 1000) % 1_000_000_000)
        guard case .appStoreReceipt(let appReceipt, let named) =
                try verifier.sandboxReceipt("app-store-receipt", ["--product", "gems_100", "--transaction-id", tx]) else {
            return XCTFail("the sandbox did not print an app receipt")
        }
        XCTAssertEqual(named, tx)
        let receipt = Receipt.appStoreReceipt(appReceipt: appReceipt, transactionId: tx)
        let verdict = try await sdk.verifyCancellable(receipt: receipt, accountId: "alice")
        XCTAssertTrue(verdict.paid, "\(verdict)")
        XCTAssertEqual(verdict.store, .appStore)
        XCTAssertEqual(verdict.transactionId, tx)
        let jws = try verifier.sandboxReceipt("app-store", ["--product", "gems_100", "--transaction-id", tx])
        let again = try await sdk.verifyCancellable(receipt: jws, accountId: "alice")
        XCTAssertEqual(again.redemption, .repeat)
        let other = try await sdk.verifyCancellable(receipt: jws, accountId: "mallory")
        XCTAssertEqual(other.reason, .alreadyRedeemed)
    }

    func testConcurrentCallsOnOneObjectEachGetTheirOwnVerdict() async throws {
        let (verifier, sdk) = try fixture()
        let purchases = try (0..<6).map { _ in try verifier.purchase() }
        let verdicts = try await withThrowingTaskGroup(of: (Int, Verdict).self) { group in
            for (i, p) in purchases.enumerated() {
                group.addTask { (i, try await sdk.verifyCancellable(receipt: p.receipt, accountId: "carol")) }
            }
            var out = [Int: Verdict]()
            for try await (i, v) in group { out[i] = v }
            return (0..<purchases.count).compactMap { out[$0] }
        }
        XCTAssertTrue(verdicts.allSatisfy { $0.paid && $0.redemption == .first }, "\(verdicts)")
        XCTAssertEqual(verdicts.map(\.transactionId), purchases.map(\.orderId))
    }

    func testVerifyBlockingServesCallersWithoutAsync() throws {
        let (verifier, sdk) = try fixture()
        let receipt = try verifier.purchase().receipt
        // A plain thread, as a Java or Unity caller would have (never the SDK's runtime).
        let box = ResultBox<Verdict>()
        let done = DispatchSemaphore(value: 0)
        Thread {
            box.set(Result { try sdk.verifyBlocking(receipt: receipt, accountId: "dave") })
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)
        let result = box.get()
        let verdict = try XCTUnwrap(result).get()
        XCTAssertTrue(verdict.paid)
        XCTAssertEqual(verdict.redemption, .first)
    }

    func testEmptySignatureIsInvalidReceiptBeforeAnythingIsSent() async throws {
        let (verifier, sdk) = try fixture()
        let purchase = try verifier.purchase()
        let error = await asyncError {
            try await sdk.verify(receipt: .googlePlay(originalJson: purchase.originalJson, signature: ""), accountId: "alice")
        }
        guard case .InvalidReceipt(let message)? = error as? PaySealError else {
            return XCTFail("expected InvalidReceipt, got \(String(describing: error))")
        }
        XCTAssertTrue(message.contains("signature"), message)
    }

    func testLogHookGetsEventsButNoReceiptContentOrToken() async throws {
        let (verifier, sdk) = try fixture()
        let purchase = try verifier.purchase()
        let logs = LogCapture().install()
        defer { logs.uninstall() }
        let verdict = try await sdk.verify(receipt: purchase.receipt, accountId: "erin")
        let seen = await logs.wait(seconds: 5) { $0.hasPrefix("verdict for receipt") }
        XCTAssertTrue(seen, "\(logs.messages)")
        let all = logs.messages.joined(separator: "\n")
        for secret in [verdict.token, purchase.signature, purchase.orderId] {
            XCTAssertFalse(all.contains(secret), "the log leaks a secret: \(all)")
        }
        XCTAssertTrue(all.contains(String(verdict.receiptSha256.prefix(12))), all)
    }
}

func base64url(_ s: String) throws -> String {
    var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while b.count % 4 != 0 { b += "=" }
    guard let data = Data(base64Encoded: b) else { throw TestSetupError(description: "not base64url: \(s)") }
    return String(decoding: data, as: UTF8.self)
}

final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, Error>?
    func set(_ v: Result<T, Error>) { lock.lock(); value = v; lock.unlock() }
    func get() -> Result<T, Error>? { lock.lock(); defer { lock.unlock() }; return value }
}
