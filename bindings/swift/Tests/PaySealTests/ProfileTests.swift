// Construction errors and the hand-written receipt builders; no network.
import Foundation
import PaySeal
import XCTest

final class ProfileTests: XCTestCase {
    private static var profile = ""

    override class func setUp() {
        super.setUp()
        // A real profile from a dev verifier's state (stopped again at once).
        if let v = try? DevVerifier.started("profile") { profile = v.profileJson; v.stop() }
    }

    private func invalidProfile(_ profileJson: String, _ options: PaySealOptions,
                                file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try PaySeal(profileJson: profileJson, options: options)
            XCTFail("accepted: \(profileJson.prefix(60))", file: file, line: line)
        } catch PaySealError.InvalidProfile(let message) {
            XCTAssertFalse(message.isEmpty, file: file, line: line)
        } catch {
            XCTFail("expected InvalidProfile, got \(error)", file: file, line: line)
        }
    }

    func testBadProfileFailsAtConstructionWithInvalidProfile() throws {
        XCTAssertFalse(Self.profile.isEmpty, "no profile from the dev verifier")
        for bad in ["", "{}", "not json", Self.profile.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 99")] {
            invalidProfile(bad, testOptions(roots: []))
        }
        // Strict parsing: an unknown field is refused too.
        var extended = Self.profile
        if let first = extended.range(of: "{") { extended.replaceSubrange(first, with: "{\"surprise\": true,") }
        invalidProfile(extended, testOptions(roots: []))
    }

    func testBadOptionsAndBadExtraRootsAreInvalidProfile() throws {
        var options = testOptions(roots: [])
        options.deadlineMs = 0
        invalidProfile(Self.profile, options)
        invalidProfile(Self.profile, testOptions(roots: ["-----BEGIN NOTHING-----"]))
        let sdk = try PaySeal(profileJson: Self.profile, options: testOptions(roots: []))
        XCTAssertEqual(sdk.appId(), appId)
    }

    func testReceiptBuildersAndJsonRoundTrip() throws {
        XCTAssertEqual(Receipt.googlePlay(originalJson: "{\"a\":1}", signature: "c2ln"),
                       .googlePlay(purchaseData: "{\"a\":1}", signature: "c2ln"))
        XCTAssertEqual(Receipt.huawei(inAppPurchaseData: "{}", inAppDataSignature: "c2ln"),
                       .huawei(purchaseData: "{}", signature: "c2ln", algorithm: .sha256WithRsa))
        XCTAssertEqual(Receipt.huawei(inAppPurchaseData: "{}", inAppDataSignature: "c2ln", signatureAlgorithm: "SHA256WithRSA/PSS"),
                       .huawei(purchaseData: "{}", signature: "c2ln", algorithm: .sha256WithRsaPss))
        XCTAssertNil(Receipt.huawei(inAppPurchaseData: "{}", inAppDataSignature: "c2ln", signatureAlgorithm: "MD5WithRSA"))

        let r = Receipt.huawei(purchaseData: "{\"orderId\":\"x\"}", signature: "c2ln", algorithm: .sha256WithRsaPss)
        let json = receiptToJson(receipt: r)
        XCTAssertTrue(json.contains("\"store\":\"huawei\""), json)
        XCTAssertEqual(try receiptFromJson(json: json), r)
        XCTAssertEqual(receiptSha256(receipt: r).count, 64)
        XCTAssertThrowsError(try receiptFromJson(json: "{\"store\":\"amazon\"}")) { error in
            guard case .InvalidReceipt? = error as? PaySealError else { return XCTFail("\(error)") }
        }
    }

    func testUnityIapReceiptsAndAppReceiptsBuild() throws {
        let play = #"{"Store":"GooglePlay","TransactionID":"GPA.1","Payload":"{\"json\":\"{\\\"orderId\\\":\\\"GPA.1\\\"}\",\"signature\":\"c2ln\"}"}"#
        XCTAssertEqual(try Receipt.fromUnityIap(play),
                       .googlePlay(purchaseData: #"{"orderId":"GPA.1"}"#, signature: "c2ln"))
        let apple = #"{"Store":"AppleAppStore","TransactionID":"1000000000000001","Payload":"MIIT"}"#
        XCTAssertEqual(try Receipt.fromUnityIap(apple),
                       .appStoreReceipt(appReceipt: "MIIT", transactionId: "1000000000000001"))
        XCTAssertThrowsError(try Receipt.fromUnityIap(#"{"Store":"AppleAppStore","Payload":"MIIT"}"#)) { error in
            guard case .InvalidReceipt? = error as? PaySealError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("TransactionID"), "\(error)")
        }
        // The receipt file, Base64 encoded as the verifier takes it; none on disk is nil.
        let file = try TestEnv.newDir("receipt").appendingPathComponent("receipt")
        try Data([0x30, 0x80, 0x06]).write(to: file)
        XCTAssertEqual(Receipt.appStoreReceipt(contentsOf: file, transactionId: "7"),
                       .appStoreReceipt(appReceipt: "MIAG", transactionId: "7"))
        XCTAssertNil(Receipt.appStoreReceipt(contentsOf: file.appendingPathExtension("absent"), transactionId: "7"))
    }
}
