using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Threading;

namespace PaySeal.Native
{
    /// <summary>
    /// The first use of the native library, checked: when the runtime cannot find it
    /// (<see cref="DllNotFoundException"/>, or <see cref="EntryPointNotFoundException"/> for a
    /// statically linked library that is not linked), every public entry point throws
    /// <see cref="PaySealException.LibraryNotFound"/> naming the plugin folder and the file this
    /// platform needs, instead of the runtime's bare "payseal_unity" message.
    /// </summary>
    internal static class NativeLoader
    {
        // 0: not tried, 1: loaded, 2: missing (message in `missing`).
        private static int state;
        private static string missing;

        /// <summary>Throws <see cref="PaySealException.LibraryNotFound"/> unless the library answers.</summary>
        internal static void EnsureLoaded()
        {
            if (Volatile.Read(ref state) == 1) return;
            if (Volatile.Read(ref state) == 0)
            {
                try
                {
                    Probe();
                    Volatile.Write(ref state, 1);
                    return;
                }
                catch (DllNotFoundException e)
                {
                    missing = MissingMessage(CurrentPlatform(), e.Message);
                }
                catch (EntryPointNotFoundException e)
                {
                    missing = MissingMessage(CurrentPlatform(), e.Message);
                }
                Volatile.Write(ref state, 2);
            }
            throw new PaySealException.LibraryNotFound(missing);
        }

        // A separate method, so the runtime resolves the P/Invoke here, inside the try above.
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static unsafe void Probe()
        {
            Utf8.Take(NativeMethods.payseal_sdk_version());
        }

        /// <summary>Where this code runs, as far as finding the library goes.</summary>
        internal enum Platform { Android, Ios, EditorLinux, EditorMacOS, EditorWindows, Linux, MacOS, Windows }

        internal static Platform CurrentPlatform()
        {
#if UNITY_ANDROID && !UNITY_EDITOR
            return Platform.Android;
#elif UNITY_IOS && !UNITY_EDITOR
            return Platform.Ios;
#elif UNITY_EDITOR_LINUX
            return Platform.EditorLinux;
#elif UNITY_EDITOR_OSX
            return Platform.EditorMacOS;
#elif UNITY_EDITOR_WIN
            return Platform.EditorWindows;
#else
            // A desktop player, or plain Mono / .NET (tests, tools).
            if (Environment.OSVersion.Platform == PlatformID.Win32NT) return Platform.Windows;
            if (Environment.OSVersion.Platform == PlatformID.MacOSX || Directory.Exists("/System/Library/CoreServices")) return Platform.MacOS;
            return Platform.Linux;
#endif
        }

        private const string Package = "Packages/dev.payseal.sdk/Runtime/Plugins/";

        /// <summary>The message for a library the runtime did not find on <paramref name="platform"/>.</summary>
        internal static string MissingMessage(Platform platform, string runtimeMessage)
        {
            string where;
            switch (platform)
            {
                case Platform.Android:
                    where = "the app holds no libpayseal_unity.so for this device's ABI: it belongs in "
                        + Package + "Android/<abi>/libpayseal_unity.so (arm64-v8a, armeabi-v7a, x86_64), "
                        + "put there by scripts/package-unity.sh android before the build";
                    break;
                case Platform.Ios:
                    where = "libpayseal_unity.a is not linked into the app: it belongs in "
                        + Package + "iOS/libpayseal_unity.a, put there by scripts/package-unity.sh ios before the build";
                    break;
                case Platform.EditorLinux:
                    where = "the Editor's library belongs in " + Package + "Editor/Linux/libpayseal_unity.so, "
                        + "put there by scripts/package-unity.sh editor on this machine";
                    break;
                case Platform.EditorMacOS:
                    where = "the Editor's library belongs in " + Package + "Editor/macOS/libpayseal_unity.dylib, "
                        + "put there by scripts/package-unity.sh editor on this machine";
                    break;
                case Platform.EditorWindows:
                    where = "the Editor's library belongs in " + Package + "Editor/Windows/payseal_unity.dll, "
                        + "put there by scripts/package-unity.sh editor on this machine";
                    break;
                case Platform.Windows:
                    where = OutsideUnity("payseal_unity.dll", "the executable's folder or a folder on PATH");
                    break;
                case Platform.MacOS:
                    where = OutsideUnity("libpayseal_unity.dylib", "the executable's folder or a folder on DYLD_LIBRARY_PATH");
                    break;
                default:
                    where = OutsideUnity("libpayseal_unity.so", "a folder on LD_LIBRARY_PATH (or the executable's folder)");
                    break;
            }
            return "the PaySeal native library was not found (" + runtimeMessage + "): " + where;
        }

        private static string OutsideUnity(string file, string searched)
        {
            return "outside the Editor and the mobile players the package's plugin folders are not used: "
                + file + " (cargo build -p payseal-unity, target/<profile>/) must be in " + searched
                + "; a desktop player needs it as a plugin enabled for its platform, e.g. Assets/Plugins/x86_64/" + file;
        }
    }
}
