// Entitlements and restore through the generated API (`entitlements`, `restore`,
// `cachedEntitlements`) against a real `payseal-verifier dev` whose config maps products to
// entitlements: the signed answer checked by the SDK, restore of several receipts on a fresh
// client, the offline copy after the verifier stops, an edited copy refused.
import Foundation
import PaySeal
import XCTest

/// The app's entitlements, as the verifier's config names them for these tests.
let entitlementsConfig = """
[apps."dev.payseal.demo".entitlements]
premium = ["lifetime_pro", "pro_monthly"]
no_ads = ["remove_ads"]
coins = ["coin_pack"]
"""

/// A name pair for comparisons: (entitlement, product).
struct Granted: Equatable, CustomStringConvertible {
    let name: String
    let product: String
    var description: String { "\(name)=\(product)" }
}

extension Entitlements {
    /// (name, product) of each entitlement, in the answer's order.
    var granted: [Granted] { entitlements.map { Granted(name: $0.name, product: $0.productId) } }
}

extension DevVerifier {
    /// A non-consumable of `product` in `store`'s real format (`huawei`, `sandbox`, ...).
    func nonConsumable(_ store: String, _ product: String) throws -> Receipt {
        try sandboxReceipt(store, ["--product", product, "--type", "non-consumable"])
    }
}

/// A fresh account per test, so the tests do not depend on each other's order.
private func account(_ name: String) -> String { "\(name)-\(UUID().uuidString.prefix(8))" }

/// The `PaySealError` a throwing call ends with, or a test failure when it succeeds.
private func syncError<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> Error? {
    do {
        let value = try body()
        XCTFail("expected an error, got \(value)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

private func isTampered(_ error: Error?) -> Bool {
    if case .Tampered? = error as? PaySealError { return true }
    return false
}

final class EntitlementsTests: XCTestCase {
    func testNonConsumableGrantsPremiumAsyncAndBlockingAlikeAndAConsumableGrantsNothing() async throws {
        let verifier = try DevVerifier.startedWithConfig("entitlements", entitlementsConfig)
        defer { verifier.stop() }
        let sdk = try PaySeal(profileJson: verifier.profileJson, options: testOptions(roots: [verifier.certPem]))
        let alice = account("alice")

        let lifetime = try await sdk.verify(receipt: try verifier.nonConsumable("huawei", "lifetime_pro"), accountId: alice)
        XCTAssertTrue(lifetime.paid, "\(lifetime)")
        XCTAssertEqual(lifetime.kind, .nonConsumable)
        // Mapped to `coins` in the config, but a consumable: delivered once, never owned.
        let coins = try await sdk.verify(
            receipt: try verifier.sandboxReceipt("huawei", ["--product", "coin_pack"]), accountId: alice)
        XCTAssertTrue(coins.paid, "\(coins)")
        XCTAssertEqual(coins.kind, .consumable)

        let answer = try await sdk.entitlements(accountId: alice)
        XCTAssertEqual(answer.granted, [Granted(name: "premium", product: "lifetime_pro")])
        let premium = try XCTUnwrap(answer.entitlements.first)
        XCTAssertEqual(premium.store, .huawei)
        XCTAssertEqual(premium.environment, .sandbox)
        XCTAssertEqual(premium.transactionKey, lifetime.transactionId)
        XCTAssertEqual(premium.kind, .nonConsumable)
        XCTAssertNil(premium.expiresAt, "a non-consumable is for life")
        XCTAssertNil(premium.willRenew)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        XCTAssertTrue((now - 120_000...now + 60_000).contains(premium.since), "since \(premium.since)")
        XCTAssertEqual(answer.accountId, alice)
        XCTAssertEqual(answer.appId, appId)
        XCTAssertFalse(answer.fromCache)
        XCTAssertTrue((-10_000...10_000).contains(answer.ageMs), "age \(answer.ageMs)")
        XCTAssertGreaterThan(answer.tokenExpiresAt, answer.issuedAt)
        XCTAssertEqual(answer.token.split(separator: ".").count, 3, "a compact JWS")

        // The blocking call: the same set, a new answer (fresh nonce).
        let again = try sdk.entitlementsBlocking(accountId: alice)
        XCTAssertEqual(again.granted, answer.granted)
        XCTAssertNotEqual(again.answerId, answer.answerId)

        // Nobody else owns it; with no entitlementsDir nothing is kept.
        let bob = try await sdk.entitlements(accountId: account("bob"))
        XCTAssertEqual(bob.entitlements, [])
        XCTAssertNil(try sdk.cachedEntitlements(accountId: alice))
        let blank = await asyncError { try await sdk.entitlements(accountId: " ") }
        guard case .InvalidReceipt? = blank as? PaySealError else {
            return XCTFail("expected InvalidReceipt, got \(String(describing: blank))")
        }
    }

    func testRestoreOnANewDeviceJudgesEachReceiptAndReturnsTheEntitlementsAfterThem() async throws {
        let verifier = try DevVerifier.startedWithConfig("restore", entitlementsConfig)
        defer { verifier.stop() }
        let alice = account("alice")
        let lifetime = try verifier.nonConsumable("huawei", "lifetime_pro")
        let ads = try verifier.nonConsumable("sandbox", "remove_ads")
        let monthly = try verifier.sandboxReceipt(
            "app-store", ["--product", "pro_monthly", "--type", "subscription", "--expires-in", "30d"])
        let gems = try verifier.purchase().receipt
        guard case let .sandbox(adsData, adsSignature) = try verifier.nonConsumable("sandbox", "remove_ads") else {
            return XCTFail("the sandbox did not print a sandbox-store receipt")
        }
        let forged = Receipt.sandbox(
            purchaseData: adsData.replacingOccurrences(of: "remove_ads", with: "remove_adz"), signature: adsSignature)

        // The old device redeemed the lifetime purchase.
        let old = try PaySeal(profileJson: verifier.profileJson, options: testOptions(roots: [verifier.certPem]))
        let first = try await old.verify(receipt: lifetime, accountId: alice)
        XCTAssertTrue(first.paid)

        // The new device: a fresh client on a new, empty folder.
        let device = try PaySeal(
            profileJson: verifier.profileJson,
            options: testOptions(roots: [verifier.certPem], entitlementsDir: try TestEnv.newDir("restore-cache")))
        XCTAssertNil(try device.cachedEntitlements(accountId: alice), "nothing kept yet on the new device")
        let receipts = [lifetime, ads, monthly, gems, forged]
        let restored = try await device.restore(receipts: receipts, accountId: alice)

        XCTAssertEqual(restored.verdicts.map(\.paid), [true, true, true, true, false])
        XCTAssertEqual(restored.verdicts.map(\.redemption), [.repeat, .first, .first, .first, nil])
        XCTAssertEqual(restored.verdicts.map(\.reason), [nil, nil, nil, nil, .badSignature])
        XCTAssertEqual(restored.verdicts.map(\.receiptSha256), receipts.map { receiptSha256(receipt: $0) })
        let e = restored.entitlements
        XCTAssertEqual(e.granted, [
            Granted(name: "no_ads", product: "remove_ads"),
            Granted(name: "premium", product: "lifetime_pro"),
            Granted(name: "premium", product: "pro_monthly"),
        ])
        let sub = e.entitlements[2]
        XCTAssertEqual(sub.store, .appStore)
        XCTAssertEqual(sub.kind, .subscription)
        XCTAssertEqual(sub.expiresAt, restored.verdicts[2].subscriptionExpiresAt)
        let end = try XCTUnwrap(sub.expiresAt)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        XCTAssertGreaterThan(end, now + 29 * 86_400_000)
        XCTAssertLessThan(end, now + 31 * 86_400_000)
        XCTAssertFalse(e.fromCache)

        // Kept on the new device, exactly the restore's answer.
        let kept = try XCTUnwrap(try device.cachedEntitlements(accountId: alice))
        XCTAssertEqual(kept.token, e.token)
        XCTAssertTrue(kept.fromCache)
        XCTAssertEqual(kept.granted, e.granted)

        // Bob restoring alice's receipts (transfer = never): already redeemed, owns nothing.
        let bob = try device.restoreBlocking(receipts: [lifetime, ads], accountId: account("bob"))
        XCTAssertEqual(bob.verdicts.map(\.reason), [.alreadyRedeemed, .alreadyRedeemed])
        XCTAssertEqual(bob.entitlements.entitlements, [])

        // More than one batch: refused before anything is sent.
        XCTAssertEqual(maxRestoreReceipts(), 50)
        let tooMany = Array(repeating: monthly, count: Int(maxRestoreReceipts()) + 1)
        let error = await asyncError { try await device.restore(receipts: tooMany, accountId: alice) }
        guard case .InvalidReceipt(let message)? = error as? PaySealError else {
            return XCTFail("expected InvalidReceipt, got \(String(describing: error))")
        }
        XCTAssertTrue(message.contains("at most 50"), message)
    }

    func testOfflineTheKeptAnswerIsUsedWithItsAgeAndAnEditedCopyIsRefused() async throws {
        let verifier = try DevVerifier.startedWithConfig("entitlements-offline", entitlementsConfig)
        defer { verifier.stop() }
        let cacheDir = try TestEnv.newDir("entitlements-cache")
        let options = testOptions(roots: [verifier.certPem], maxAttempts: 1, entitlementsDir: cacheDir)
        let online: Entitlements
        do {
            let sdk = try PaySeal(profileJson: verifier.profileJson, options: options)
            let paid = try await sdk.verify(receipt: try verifier.nonConsumable("sandbox", "lifetime_pro"), accountId: "alice")
            XCTAssertTrue(paid.paid)
            online = try await sdk.entitlements(accountId: "alice")
            XCTAssertEqual(online.granted, [Granted(name: "premium", product: "lifetime_pro")])
            let bob = try await sdk.entitlements(accountId: "bob")
            XCTAssertEqual(bob.entitlements, [], "bob's empty answer is kept too")
        }
        let names = files(in: cacheDir)
        XCTAssertEqual(names.count, 2, "one file per account: \(names)")
        let paths = names.map { cacheDir.appendingPathComponent($0) }
        let text = { (url: URL) in (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) }
        let aliceFile = try XCTUnwrap(paths.first { text($0) == online.token })
        let bobFile = try XCTUnwrap(paths.first { $0 != aliceFile })

        verifier.stop()
        try await Task.sleep(nanoseconds: 1_100_000_000)
        // The game starts offline (a new object on the same folder).
        let sdk = try PaySeal(profileJson: verifier.profileJson, options: options)
        let offline = try await sdk.entitlements(accountId: "alice")
        XCTAssertTrue(offline.fromCache)
        XCTAssertEqual(offline.token, online.token)
        XCTAssertEqual(offline.granted, online.granted)
        XCTAssertGreaterThanOrEqual(offline.ageMs, 1_000)
        XCTAssertTrue(try sdk.entitlementsBlocking(accountId: "alice").fromCache)
        XCTAssertEqual(try sdk.cachedEntitlements(accountId: "alice")?.token, online.token)

        // Never asked while online: no answer, none invented.
        let none = await asyncError { try await sdk.entitlements(accountId: "carol") }
        guard case .Network(let message)? = none as? PaySealError else {
            return XCTFail("expected Network, got \(String(describing: none))")
        }
        XCTAssertTrue(message.contains("no entitlements answer kept offline"), message)
        XCTAssertNil(try sdk.cachedEntitlements(accountId: "carol"))

        // Bob's genuine (empty) answer copied over alice's file: refused.
        try FileManager.default.removeItem(at: aliceFile)
        try FileManager.default.copyItem(at: bobFile, to: aliceFile)
        let swapped = await asyncError { try await sdk.entitlements(accountId: "alice") }
        XCTAssertTrue(isTampered(swapped), "\(String(describing: swapped))")
        XCTAssertTrue(isTampered(syncError { try sdk.cachedEntitlements(accountId: "alice") }))
        // One character of alice's own answer changed: refused.
        var bytes = Array(online.token.utf8)
        let at = try XCTUnwrap(bytes.firstIndex(of: UInt8(ascii: "."))) + 10
        bytes[at] = bytes[at] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try Data(bytes).write(to: aliceFile)
        let edited = await asyncError { try await sdk.entitlements(accountId: "alice") }
        XCTAssertTrue(isTampered(edited), "\(String(describing: edited))")
        XCTAssertTrue(isTampered(syncError { try sdk.entitlementsBlocking(accountId: "alice") }))
        XCTAssertTrue(isTampered(syncError { try sdk.cachedEntitlements(accountId: "alice") }))

        // Back online: a fresh answer replaces the edited copy.
        try verifier.start()
        let fresh = try await sdk.entitlements(accountId: "alice")
        XCTAssertFalse(fresh.fromCache)
        XCTAssertEqual(fresh.granted, online.granted)
        XCTAssertEqual(try sdk.cachedEntitlements(accountId: "alice")?.token, fresh.token)
    }

    /// `entitlementsCancellable` (hand-written, like `verifyCancellable`): with the verifier
    /// frozen (SIGSTOP: TCP accepted, TLS never answered), cancelling the Task ends the call at
    /// once with CancellationError; the launch screen goes on with the kept answer; the object
    /// stays usable.
    func testEntitlementsCancellableEndsAtOnceWhenTheTaskIsCancelled() async throws {
        let verifier = try DevVerifier.startedWithConfig("entitlements-cancel", entitlementsConfig)
        defer { verifier.stop() }
        let options = testOptions(roots: [verifier.certPem], maxAttempts: 2, connectTimeoutMs: 5_000,
                                  requestTimeoutMs: 5_000, deadlineMs: 10_000,
                                  entitlementsDir: try TestEnv.newDir("entitlements-cancel"))
        let sdk = try PaySeal(profileJson: verifier.profileJson, options: options)
        let paid = try await sdk.verify(receipt: try verifier.nonConsumable("sandbox", "lifetime_pro"), accountId: "alice")
        XCTAssertTrue(paid.paid)
        let online = try await sdk.entitlementsCancellable(accountId: "alice")
        XCTAssertEqual(online.granted, [Granted(name: "premium", product: "lifetime_pro")])
        XCTAssertFalse(online.fromCache)

        verifier.pause()
        let task = Task { try await sdk.entitlementsCancellable(accountId: "alice") }
        try await Task.sleep(nanoseconds: 500_000_000) // inside the TLS handshake
        let t0 = Date()
        task.cancel()
        let result = await task.result
        let elapsed = Date().timeIntervalSince(t0)
        switch result {
        case .failure(let error): XCTAssertTrue(error is CancellationError, "got \(error)")
        case .success(let answer): XCTFail("a cancelled call returned \(answer)")
        }
        XCTAssertLessThan(elapsed, 0.5, "cancellation took \(elapsed) s")
        XCTAssertEqual(try sdk.cachedEntitlements(accountId: "alice")?.token, online.token)

        verifier.resume()
        let fresh = try await sdk.entitlementsCancellable(accountId: "alice")
        XCTAssertFalse(fresh.fromCache)
        XCTAssertEqual(fresh.granted, online.granted)
    }
}
