// One purchase verified through the packaged PaySeal, as an app does it; exits non-zero on any
// unexpected result. Inputs (set by scripts/test-swift-release.sh; a missing one is a failure):
//   PAYSEAL_CONSUMER_APP, PAYSEAL_CONSUMER_PROFILE, PAYSEAL_CONSUMER_CA, PAYSEAL_CONSUMER_RECEIPT
import Foundation
import PaySeal

func env(_ name: String) -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        FileHandle.standardError.write("\(name) is not set: run this through scripts/test-swift-release.sh\n".data(using: .utf8)!)
        exit(2)
    }
    return value
}

func check(_ ok: Bool, _ what: String) {
    if !ok {
        FileHandle.standardError.write("FAILED: \(what)\n".data(using: .utf8)!)
        exit(1)
    }
}

func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

let app = env("PAYSEAL_CONSUMER_APP")
do {
    // A profile that does not parse is a typed error, through the packaged library.
    do {
        _ = try PaySeal(profileJson: "{}", options: defaultOptions(appId: app))
        check(false, "an empty profile was accepted")
    } catch PaySealError.InvalidProfile {
        print("invalid profile refused: PaySealError.InvalidProfile")
    }

    var options = defaultOptions(appId: app)
    options.extraRootsPem = [try read(env("PAYSEAL_CONSUMER_CA"))]   // the dev verifier's certificate
    options.maxAttempts = 1
    let sdk = try PaySeal(profileJson: try read(env("PAYSEAL_CONSUMER_PROFILE")), options: options)
    let receipt = try receiptFromJson(json: try read(env("PAYSEAL_CONSUMER_RECEIPT")))

    let verdict = try sdk.verifyBlocking(receipt: receipt, accountId: "consumer-alice")
    check(verdict.paid && verdict.redemption == .first, "genuine purchase: \(verdict)")
    check(verdict.token.split(separator: ".").count == 3, "verdict token is a compact JWS")
    print("genuine purchase: paid, first, product \(verdict.productId ?? "?")")

    let replay = try sdk.verifyBlocking(receipt: receipt, accountId: "consumer-mallory")
    check(!replay.paid && replay.reason == .alreadyRedeemed, "replay from another account: \(replay)")
    print("replay from another account: not paid, alreadyRedeemed")
} catch {
    check(false, "unexpected error: \(error)")
}
print("OK consumer")
