// Issue 11, product and account binding, through the generated Swift API and the
// hand-written `verifyCancellable`, against a real `payseal-verifier dev` over pinned TLS with
// store-format purchases from the sandbox store:
//  - a genuine cheap receipt answering an expensive purchase (a Freedom-style substitution)
//    is not paid, .wrongProduct, and not consumed: the same receipt for its own product is
//    paid, .first;
//  - a purchase whose `obfuscatedAccountId` / `appAccountToken` is another account's token is
//    not paid, .wrongAccount; its own account is paid.
import Foundation
import PaySeal
import XCTest

final class BindingTests: XCTestCase {
    private static var verifier: DevVerifier?
    private static var sdk: PaySeal?

    override class func setUp() {
        super.setUp()
        do {
            let v = try DevVerifier.started("binding")
            verifier = v
            sdk = try PaySeal(profileJson: v.profileJson, options: testOptions(roots: [v.certPem]))
        } catch {
            print("BindingTests setUp failed: \(error)") // every test then fails in fixture()
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

    func testCheapReceiptAnsweringAnExpensivePurchaseIsWrongProductAndNotConsumed() async throws {
        let (verifier, sdk) = try fixture()
        for store in ["app-store", "google-play"] {
            let cheap = try verifier.issue(store, product: "gems_100")
            let refused = try await sdk.verifyCancellable(
                receipt: cheap, accountId: "alice", expectedProductId: "gems_10000")
            XCTAssertFalse(refused.paid, "\(store): \(refused)")
            XCTAssertEqual(refused.reason, .wrongProduct, store)
            XCTAssertNil(refused.redemption)
            XCTAssertEqual(refused.productId, "gems_100", "the verdict names what the receipt is")

            // The generated `verify` with the product: its own product is paid, first.
            let paid = try await sdk.verify(receipt: cheap, accountId: "alice", expectedProductId: "gems_100")
            XCTAssertTrue(paid.paid, "\(store): \(paid)")
            XCTAssertEqual(paid.redemption, .first, "\(store): the refused attempt consumed the receipt")

            // Again for the expensive product: still wrong_product; without a product (calls
            // written before the parameter existed): a repeat.
            let again = try await sdk.verify(receipt: cheap, accountId: "alice", expectedProductId: "gems_10000")
            XCTAssertEqual(again.reason, .wrongProduct, store)
            let plain = try await sdk.verifyCancellable(receipt: cheap, accountId: "alice")
            XCTAssertEqual(plain.redemption, .repeat, store)
        }
    }

    func testPurchaseBoundToAnotherAccountIsWrongAccount() async throws {
        let (verifier, sdk) = try fixture()
        // What the app sets at purchase time:
        //   try await product.purchase(options: [.appAccountToken(UUID(uuidString: token)!)])
        let aliceToken = try accountTokenUuidV5(namespace: devAccountNamespace, accountId: "alice")
        XCTAssertNotNil(UUID(uuidString: aliceToken), aliceToken)
        for store in ["app-store", "google-play"] {
            let bound = try verifier.issue(store, accountToken: aliceToken)
            let stolen = try await sdk.verifyCancellable(receipt: bound, accountId: "mallory")
            XCTAssertFalse(stolen.paid, "\(store): \(stolen)")
            XCTAssertEqual(stolen.reason, .wrongAccount, store)
            let own = try await sdk.verifyCancellable(receipt: bound, accountId: "alice", expectedProductId: "gems_100")
            XCTAssertTrue(own.paid, "\(store): \(own)")
            XCTAssertEqual(own.redemption, .first, "\(store): the refused attempt redeemed it")
        }
        XCTAssertThrowsError(try accountTokenUuidV5(namespace: "not-a-uuid", accountId: "alice"))
        XCTAssertEqual(accountTokenSha256Hex(accountId: "alice").count, 64)
    }
}
