using System.Collections.Generic;

namespace PaySeal
{
    /// <summary>Options besides the profile. A number left at 0 means the SDK's default.</summary>
    public sealed class Options
    {
        /// <summary>The app id as configured on the verifier (package name / bundle id).</summary>
        public string AppId { get; set; }
        /// <summary>Time allowed to connect (TCP + TLS), ms (default 5000).</summary>
        public long ConnectTimeoutMs { get; set; }
        /// <summary>Time allowed for one request, ms (default 10000).</summary>
        public long RequestTimeoutMs { get; set; }
        /// <summary>Time allowed for one verify, retries included, ms (default 30000).</summary>
        public long DeadlineMs { get; set; }
        /// <summary>Attempts per verify, the first included (default 4; 1 = no retry).</summary>
        public int MaxAttempts { get; set; }
        /// <summary>Backoff before the first retry, doubled each time and jittered, ms (default 200).</summary>
        public long BaseBackoffMs { get; set; }
        /// <summary>Folder for receipts that got no verdict, e.g. <c>Application.persistentDataPath + "/payseal-pending"</c>;
        /// null: not kept.</summary>
        public string PendingDir { get; set; }
        /// <summary>Folder where the last checked entitlements answer of each account is kept (signed, checked again
        /// when read; an edited file is refused), e.g. <c>Application.persistentDataPath + "/payseal-entitlements"</c>,
        /// so that a game offline at start still knows what the player owns (<see cref="Client.EntitlementsAsync"/>
        /// falls back to it, <see cref="Client.CachedEntitlements"/> reads it). Null: not kept.</summary>
        public string EntitlementsDir { get; set; }
        /// <summary>Extra trust roots (PEM) for private deployments, added to the built-in (Mozilla) roots.</summary>
        public List<string> ExtraRootsPem { get; private set; }

        /// <summary>Options for <paramref name="appId"/>, everything else default.</summary>
        public Options(string appId)
        {
            AppId = appId;
            ExtraRootsPem = new List<string>();
        }
    }
}
