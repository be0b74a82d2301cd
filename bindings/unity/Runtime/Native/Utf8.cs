// UTF-8 text across the boundary: C# strings in as borrowed PsStr, library strings out
// (copied, then freed only by the library's own free function).
using System;
using System.Text;

namespace PaySeal.Native
{
    internal static unsafe class Utf8
    {
        /// <summary>The UTF-8 bytes of <paramref name="s"/> plus a NUL (so "" still has an address), or null.</summary>
        internal static byte[] Bytes(string s, out int length)
        {
            if (s == null)
            {
                length = 0;
                return null;
            }
            length = Encoding.UTF8.GetByteCount(s);
            var bytes = new byte[length + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        /// <summary>A PsStr over pinned <paramref name="p"/> (null pointer: absent).</summary>
        internal static PsStr Str(byte* p, int length)
        {
            return new PsStr { ptr = p, len = (UIntPtr)(uint)length };
        }

        /// <summary>A copy of the NUL-terminated UTF-8 string at <paramref name="p"/> (null: null). Not freed.</summary>
        internal static string Read(byte* p)
        {
            if (p == null) return null;
            int n = 0;
            while (p[n] != 0) n++;
            return Encoding.UTF8.GetString(p, n);
        }

        /// <summary>A copy of a string the library returned, which is then freed by the library.</summary>
        internal static string Take(byte* p)
        {
            if (p == null) return null;
            try { return Read(p); }
            finally { NativeMethods.payseal_string_free(p); }
        }

        /// <summary>Throws the typed exception for a failed call (frees its message); nothing when kind is 0.</summary>
        internal static void Check(int kind, byte* message)
        {
            string text = Take(message);
            if (kind != 0) throw PaySealException.FromKind(kind, text);
        }
    }
}
