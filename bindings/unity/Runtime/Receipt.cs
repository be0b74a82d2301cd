using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using PaySeal.Native;

namespace PaySeal
{
    /// <summary>The store of a purchase.</summary>
    public enum Store
    {
        /// <summary>Google Play.</summary>
        GooglePlay = 1,
        /// <summary>Apple App Store.</summary>
        AppStore = 2,
        /// <summary>Huawei AppGallery.</summary>
        Huawei = 3,
        /// <summary>PaySeal's sandbox store (development and tests).</summary>
        Sandbox = 4,
        /// <summary>An App Store app receipt (the original StoreKit; Unity IAP's <c>AppleAppStore</c>
        /// payload). A receipt kind only: its verdicts say <see cref="AppStore"/>, the same store as
        /// StoreKit 2, so one purchase presented both ways redeems once.</summary>
        AppStoreReceipt = 5,
    }

    /// <summary>Huawei's signature algorithm.</summary>
    public enum HuaweiAlgorithm
    {
        /// <summary><c>SHA256WithRSA</c> (PKCS#1 v1.5), Huawei's default.</summary>
        Sha256WithRsa = 0,
        /// <summary><c>SHA256WithRSA/PSS</c>.</summary>
        Sha256WithRsaPss = 1,
    }

    /// <summary>
    /// The payment response the app got from its store, built from exactly what the store's
    /// library returns (never parsed and re-serialised: that would break the signature).
    /// Strings are not checked here: a null or empty one is reported by <see cref="Client.VerifyAsync"/>.
    /// </summary>
    public sealed class Receipt : IEquatable<Receipt>
    {
        /// <summary>Huawei's <c>signatureAlgorithm</c> value for PKCS#1 v1.5 (also what an absent value means).</summary>
        public const string HuaweiPkcs1 = "SHA256WithRSA";
        /// <summary>Huawei's <c>signatureAlgorithm</c> value for RSA-PSS.</summary>
        public const string HuaweiPss = "SHA256WithRSA/PSS";

        /// <summary>The store.</summary>
        public Store Store { get; private set; }
        /// <summary>The purchase data exactly as the store returned it (App Store: the JWS).</summary>
        public string Data { get; private set; }
        /// <summary>The Base64 signature (null for the App Store; for an App Store app receipt, the
        /// transaction id to redeem).</summary>
        public string Signature { get; private set; }
        /// <summary>Huawei only: the signature algorithm.</summary>
        public HuaweiAlgorithm Algorithm { get; private set; }

        private Receipt(Store store, string data, string signature, HuaweiAlgorithm algorithm)
        {
            Store = store;
            Data = data;
            Signature = signature;
            Algorithm = algorithm;
        }

        /// <summary>Google Play Billing: <c>Purchase.originalJson</c> (exact) and <c>Purchase.signature</c>
        /// (Unity IAP: the receipt's <c>Payload.json</c> and <c>Payload.signature</c>).</summary>
        public static Receipt GooglePlay(string originalJson, string signature)
        {
            return new Receipt(Store.GooglePlay, originalJson, signature, HuaweiAlgorithm.Sha256WithRsa);
        }

        /// <summary>App Store (StoreKit 2): the transaction's <c>jwsRepresentation</c>.</summary>
        public static Receipt AppStore(string jwsRepresentation)
        {
            return new Receipt(Store.AppStore, jwsRepresentation, null, HuaweiAlgorithm.Sha256WithRsa);
        }

        /// <summary>An App Store app receipt (the original StoreKit: the Base64 contents of
        /// <c>Bundle.main.appStoreReceiptURL</c>) and the in-app transaction of it to redeem.</summary>
        public static Receipt AppStoreAppReceipt(string appReceiptBase64, string transactionId)
        {
            return new Receipt(Store.AppStoreReceipt, appReceiptBase64, transactionId, HuaweiAlgorithm.Sha256WithRsa);
        }

        /// <summary>
        /// The receipt in Unity IAP's unified receipt, exactly as Unity gives it
        /// (<c>product.receipt</c> in <c>ProcessPurchase</c>; a Unity IAP 5 order's
        /// <c>Info.Receipt</c>): <c>GooglePlay</c> → the Play receipt from <c>Payload.json</c> and
        /// <c>Payload.signature</c>, byte for byte; <c>AppleAppStore</c> / <c>MacAppStore</c> → the
        /// App Store app receipt with its <c>TransactionID</c>. Parsed by the native library (the
        /// same parser Kotlin and Swift call).
        /// </summary>
        /// <exception cref="PaySealException.InvalidReceipt">not a Unity IAP receipt of a supported
        /// store; the message names what is wrong</exception>
        public static unsafe Receipt FromUnityIap(string unifiedReceipt)
        {
            NativeLoader.EnsureLoaded();
            int n;
            byte[] b = Utf8.Bytes(unifiedReceipt, out n);
            PsReceiptOut* r = null;
            byte* message = null;
            int kind;
            fixed (byte* p = b)
            {
                kind = NativeMethods.payseal_receipt_from_unity_iap(Utf8.Str(p, n), &r, &message);
            }
            Utf8.Check(kind, message);
            return Take(r);
        }

        /// <summary>Huawei IAP: <c>InAppPurchaseData</c> (exact), <c>inAppDataSignature</c> and
        /// <c>signatureAlgorithm</c> as the IAP result gives them (null or empty: SHA256WithRSA).</summary>
        /// <exception cref="ArgumentException">any other algorithm name</exception>
        public static Receipt Huawei(string inAppPurchaseData, string inAppDataSignature, string signatureAlgorithm = null)
        {
            return new Receipt(Store.Huawei, inAppPurchaseData, inAppDataSignature, ParseHuaweiAlgorithm(signatureAlgorithm));
        }

        /// <summary>PaySeal's sandbox store.</summary>
        public static Receipt Sandbox(string purchaseData, string signature)
        {
            return new Receipt(Store.Sandbox, purchaseData, signature, HuaweiAlgorithm.Sha256WithRsa);
        }

        /// <summary>Huawei's <c>signatureAlgorithm</c> string as a <see cref="HuaweiAlgorithm"/>.</summary>
        /// <exception cref="ArgumentException">an algorithm the verifier would refuse</exception>
        public static HuaweiAlgorithm ParseHuaweiAlgorithm(string signatureAlgorithm)
        {
            string a = signatureAlgorithm == null ? "" : signatureAlgorithm.Trim();
            if (a.Length == 0 || string.Equals(a, HuaweiPkcs1, StringComparison.OrdinalIgnoreCase)) return HuaweiAlgorithm.Sha256WithRsa;
            if (string.Equals(a, HuaweiPss, StringComparison.OrdinalIgnoreCase)) return HuaweiAlgorithm.Sha256WithRsaPss;
            throw new ArgumentException("unsupported Huawei signatureAlgorithm \"" + signatureAlgorithm
                + "\" (expected \"" + HuaweiPkcs1 + "\" or \"" + HuaweiPss + "\")", "signatureAlgorithm");
        }

        /// <summary>Parse the stable receipt JSON (what <c>payseal-sandbox</c> prints, what pending files hold).</summary>
        /// <exception cref="PaySealException.InvalidReceipt">not a receipt</exception>
        public static unsafe Receipt FromJson(string json)
        {
            NativeLoader.EnsureLoaded();
            int n;
            byte[] b = Utf8.Bytes(json, out n);
            PsReceiptOut* r = null;
            byte* message = null;
            int kind;
            fixed (byte* p = b)
            {
                kind = NativeMethods.payseal_receipt_from_json(Utf8.Str(p, n), &r, &message);
            }
            Utf8.Check(kind, message);
            return Take(r);
        }

        /// <summary>A receipt from the native library, which is freed.</summary>
        private static unsafe Receipt Take(PsReceiptOut* r)
        {
            try
            {
                return new Receipt((Store)r->store, Utf8.Read(r->data), Utf8.Read(r->signature), (HuaweiAlgorithm)r->algorithm);
            }
            finally
            {
                NativeMethods.payseal_receipt_free(r);
            }
        }

        /// <summary>The receipt's <c>receipt_sha256</c> (hex), as verdicts and pending results name it.</summary>
        public unsafe string Sha256()
        {
            NativeLoader.EnsureLoaded();
            return Use(r =>
            {
                byte* hash = null;
                byte* message = null;
                int kind = NativeMethods.payseal_receipt_sha256(r, &hash, &message);
                Utf8.Check(kind, message);
                return Utf8.Take(hash);
            });
        }

        internal unsafe delegate T WithNative<T>(PsReceipt* receipt);

        internal unsafe delegate T WithNativeArray<T>(PsReceipt* receipts, int count);

        /// <summary>Runs <paramref name="f"/> with this receipt as a native struct over pinned UTF-8 copies.</summary>
        internal unsafe T Use<T>(WithNative<T> f)
        {
            return UseAll(new[] { this }, (receipts, count) => f(receipts));
        }

        /// <summary>Runs <paramref name="f"/> with <paramref name="receipts"/> as a native array over pinned UTF-8
        /// copies (an empty list: a null pointer and 0), unpinned when it returns.</summary>
        /// <exception cref="PaySealException.InvalidArgument">the list or one of its receipts is null</exception>
        internal static unsafe T UseAll<T>(IList<Receipt> receipts, WithNativeArray<T> f)
        {
            if (receipts == null) throw new PaySealException.InvalidArgument("receipts is null");
            var pins = new List<GCHandle>();
            try
            {
                var native = new PsReceipt[receipts.Count];
                for (int i = 0; i < native.Length; i++)
                {
                    Receipt r = receipts[i];
                    if (r == null) throw new PaySealException.InvalidArgument("receipts[" + i + "] is null");
                    int dataLen, sigLen;
                    byte[] data = Utf8.Bytes(r.Data, out dataLen);
                    byte[] sig = Utf8.Bytes(r.Signature, out sigLen);
                    native[i] = new PsReceipt
                    {
                        store = (int)r.Store,
                        algorithm = (int)r.Algorithm,
                        data = Utf8.Str(Pin(data, pins), dataLen),
                        signature = Utf8.Str(Pin(sig, pins), sigLen),
                    };
                }
                fixed (PsReceipt* p = native)
                {
                    return f(p, native.Length);
                }
            }
            finally
            {
                foreach (GCHandle h in pins) h.Free();
            }
        }

        private static unsafe byte* Pin(byte[] bytes, List<GCHandle> pins)
        {
            if (bytes == null) return null;
            GCHandle h = GCHandle.Alloc(bytes, GCHandleType.Pinned);
            pins.Add(h);
            return (byte*)h.AddrOfPinnedObject();
        }

        /// <summary>Same store, data, signature and algorithm.</summary>
        public bool Equals(Receipt other)
        {
            return other != null && Store == other.Store && Data == other.Data
                && Signature == other.Signature && Algorithm == other.Algorithm;
        }

        /// <inheritdoc/>
        public override bool Equals(object obj) { return Equals(obj as Receipt); }

        /// <inheritdoc/>
        public override int GetHashCode()
        {
            return ((int)Store * 31 + (Data == null ? 0 : Data.GetHashCode())) * 31 + (Signature == null ? 0 : Signature.GetHashCode());
        }

        /// <summary>The store only: a receipt's content is not for logs.</summary>
        public override string ToString() { return "Receipt(" + Store + ")"; }
    }
}
