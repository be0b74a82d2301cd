// Hand-written: `verifyCancellable` and `entitlementsCancellable`, a `verify` and an
// `entitlements` that honour Swift Task cancellation.
//
// UniFFI 0.32's generated Swift awaits Rust futures with a plain continuation and never
// cancels them: cancelling the Task of a generated `verify(receipt:accountId:)` has no
// effect, the call runs to its own end (verdict, error or deadline). Kotlin's generated
// suspend functions do cancel (they free the Rust future, which aborts the SDK's task).
// This file gives Swift the same behaviour through the UniFFI C ABI of the generated
// header (PaySealFFI.h): start the call, poll it, and on Task cancellation call
// `rust_future_cancel`, then free the future, which drops it and aborts the SDK's work.
// It uses only public generated symbols (lowering/lifting) and the C functions, and is
// tied to UniFFI 0.32's future protocol: re-check it when UniFFI is upgraded (the Swift
// tests exercise it against the real verifier).
import Foundation
#if canImport(PaySealFFI)
import PaySealFFI
#endif

extension PaySeal {
    /// Verify a purchase for `accountId`, like `verify(receipt:accountId:expectedProductId:)`,
    /// but cancellable: when the calling Task is cancelled the request is abandoned at once
    /// (the connection is dropped, no retry follows, nothing is kept pending) and this throws
    /// `CancellationError`. The object stays usable. Prefer this from Swift.
    /// `expectedProductId`: the product the app sold (StoreKit's `Product.id`); a genuine
    /// receipt for another product is then not paid (`.wrongProduct`) and not consumed.
    public func verifyCancellable(
        receipt: Receipt, accountId: String, expectedProductId: String? = nil
    ) async throws -> Verdict {
        try Task.checkCancellation()
        uniffiEnsurePaysealSdkCoreInitialized()
        let account = try PaySealRustFuture.lowerString(accountId)
        let product = try PaySealRustFuture.lowerOptionalString(expectedProductId)
        let future = uniffi_payseal_sdk_core_fn_method_payseal_verify(
            uniffiCloneHandle(), FfiConverterTypeReceipt_lower(receipt), account, product)
        return try await PaySealRustFuture.complete(future, lift: FfiConverterTypeVerdict_lift)
    }

    /// What `accountId` owns, like `entitlements(accountId:)`, but cancellable: when the calling
    /// Task is cancelled the request is abandoned at once and this throws `CancellationError`
    /// (e.g. a launch screen that waits two seconds, then goes on with
    /// `cachedEntitlements(accountId:)`). The object stays usable.
    public func entitlementsCancellable(accountId: String) async throws -> Entitlements {
        try Task.checkCancellation()
        uniffiEnsurePaysealSdkCoreInitialized()
        let account = try PaySealRustFuture.lowerString(accountId)
        let future = uniffi_payseal_sdk_core_fn_method_payseal_entitlements(uniffiCloneHandle(), account)
        return try await PaySealRustFuture.complete(future, lift: FfiConverterTypeEntitlements_lift)
    }
}

/// Awaiting a UniFFI Rust future (one returning a RustBuffer) with cancellation.
enum PaySealRustFuture {
    private static let pollReady: Int8 = 0
    private static let callSuccess: Int8 = 0
    private static let callError: Int8 = 1
    private static let callCancelled: Int8 = 3

    static func complete<T>(_ future: UInt64, lift: (RustBuffer) throws -> T) async throws -> T {
        defer { ffi_payseal_sdk_core_rust_future_free_rust_buffer(future) }
        await withTaskCancellationHandler {
            var poll: Int8
            repeat {
                poll = await withUnsafeContinuation { (continuation: UnsafeContinuation<Int8, Never>) in
                    ffi_payseal_sdk_core_rust_future_poll_rust_buffer(
                        future, paySealFutureContinuation, PaySealContinuations.shared.insert(continuation))
                }
            } while poll != pollReady
        } onCancel: {
            // Thread-safe in UniFFI: wakes the pending poll with "ready"; completing then
            // reports "cancelled", and the free above drops the Rust future.
            ffi_payseal_sdk_core_rust_future_cancel_rust_buffer(future)
        }
        var status = RustCallStatus()
        let value = ffi_payseal_sdk_core_rust_future_complete_rust_buffer(future, &status)
        switch status.code {
        case callSuccess:
            return try lift(value)
        case callError:
            throw try FfiConverterTypePaySealError_lift(status.errorBuf)
        case callCancelled:
            throw CancellationError()
        default:
            throw PaySealError.Internal(message: "the SDK panicked: \(takeString(status.errorBuf))")
        }
    }

    /// A String as the RustBuffer UniFFI expects for a String argument (its UTF-8 bytes).
    static func lowerString(_ value: String) throws -> RustBuffer {
        try lowerBytes(Array(value.utf8))
    }

    /// A String? as the RustBuffer UniFFI expects for an `Option<String>` argument: a tag byte
    /// (0 none, 1 some), then the string's byte count (Int32, big-endian) and UTF-8 bytes.
    static func lowerOptionalString(_ value: String?) throws -> RustBuffer {
        guard let value else { return try lowerBytes([0]) }
        let utf8 = Array(value.utf8)
        guard let count = Int32(exactly: utf8.count) else {
            throw PaySealError.InvalidReceipt(message: "the string is too long")
        }
        let length = withUnsafeBytes(of: count.bigEndian) { Array($0) }
        return try lowerBytes([1] + length + utf8)
    }

    private static func lowerBytes(_ bytes: [UInt8]) throws -> RustBuffer {
        var status = RustCallStatus()
        let buffer = bytes.withUnsafeBufferPointer { pointer in
            ffi_payseal_sdk_core_rustbuffer_from_bytes(
                ForeignBytes(len: Int32(pointer.count), data: pointer.baseAddress), &status)
        }
        guard status.code == callSuccess else {
            throw PaySealError.Internal(message: "could not pass a string to the SDK")
        }
        return buffer
    }

    /// The UTF-8 text of a RustBuffer, which is then freed.
    private static func takeString(_ buffer: RustBuffer) -> String {
        guard let data = buffer.data, buffer.len > 0 else { return "unknown" }
        let text = String(decoding: UnsafeBufferPointer(start: data, count: Int(buffer.len)), as: UTF8.self)
        var status = RustCallStatus()
        ffi_payseal_sdk_core_rustbuffer_free(buffer, &status)
        return text
    }
}

/// Continuations waiting for a poll result, by the handle given to Rust.
final class PaySealContinuations: @unchecked Sendable {
    static let shared = PaySealContinuations()
    private let lock = NSLock()
    private var next: UInt64 = 1
    private var waiting: [UInt64: UnsafeContinuation<Int8, Never>] = [:]

    func insert(_ continuation: UnsafeContinuation<Int8, Never>) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        let handle = next
        next += 1
        waiting[handle] = continuation
        return handle
    }

    func resume(_ handle: UInt64, with poll: Int8) {
        lock.lock()
        let continuation = waiting.removeValue(forKey: handle)
        lock.unlock()
        continuation?.resume(returning: poll)
    }
}

/// Called by Rust (any thread) when a polled future can make progress or is ready.
private let paySealFutureContinuation: UniffiRustFutureContinuationCallback = { handle, poll in
    PaySealContinuations.shared.resume(handle, with: poll)
}
