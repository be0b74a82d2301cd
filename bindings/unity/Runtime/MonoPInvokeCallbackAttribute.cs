// Unity's IL2CPP needs [AOT.MonoPInvokeCallback] on every static method handed to native code
// as a callback. UnityEngine defines it; outside Unity (Mono, .NET) this stand-in does.
#if !UNITY_5_3_OR_NEWER
using System;

namespace AOT
{
    /// <summary>Marks a static method called back from native code (IL2CPP ahead-of-time compilation).</summary>
    [AttributeUsage(AttributeTargets.Method)]
    internal sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        /// <summary>The delegate type the method is passed as.</summary>
        public MonoPInvokeCallbackAttribute(Type type) { }
    }
}
#endif
