/* The ROC name server's interface (roc-ns, object id "roc.ns").
 *
 * A registration binds a name to one or more object URIs ("ROC:id@url",
 * replicas) and carries metadata tags. Names and tags are
 * [A-Za-z0-9_.:-]+ (at most 255 and 128 characters); a registration holds
 * at most 32 tags and 64 URIs. Bad input is answered roc.BadArguments.
 * docs/naming.md describes the service, libroc's client (roc/naming.h) and
 * the `roc ns` commands.
 */
module roc.naming {
    /** register_name flags: replace what the name holds. */
    const u32 REPLACE = 1;
    /** register_name flags: add the URI to the name's URIs (a replica). */
    const u32 ADD_REPLICA = 2;

    /** How list_names and remove match a pattern against names. */
    enum Match { EXACT, PREFIX, REGEX }

    /** One registration. */
    struct Entry {
        string name;
        list<string> uris;
        list<string> meta;
    }

    /** The name is not registered. */
    exception NotFound { string name; }
    /** The name is registered already (and neither REPLACE nor ADD_REPLICA
     *  was asked for). */
    exception Exists { string name; list<string> uris; }

    /** NameServer.watch's answer: what the watched names hold now. */
    struct WatchStart {
        /** The watch (for unwatch and watching). */
        u64 watch;
        /** Sequence number of the registry's last change in entries; the
         *  watcher is told every later change. */
        u64 seq;
        /** The registrations whose name begins with the prefix. */
        list<Entry> entries;
    }

    /** Told of changes to watched names (NameServer.watch), over the
     *  connection the watch was asked on. Calls arrive in the order of
     *  seq, which grows with every change the name server sees. */
    interface Watcher {
        /** entry.name was registered or changed: entry is what it holds
         *  now. */
        oneway void put(u64 watch, u64 seq, Entry entry);
        /** name was removed (or its lease ended). */
        oneway void removed(u64 watch, u64 seq, string name);
    }

    interface NameServer {
        /** "pong". */
        idempotent string ping();
        /** Binds name to uri with the given tags. Without flags a name that
         *  is registered already raises Exists; REPLACE replaces its URIs and
         *  tags; ADD_REPLICA adds uri to its URIs (tags are then merged). */
        void register_name(string name, string uri, list<string> meta,
                           u32 flags) raises (Exists);
        /** Every URI registered under name. */
        idempotent list<string> lookup(string name) raises (NotFound);
        /** Registrations whose name matches (PREFIX "" lists all). Sorted by
         *  name. */
        idempotent list<Entry> list_names(string pattern, Match how);
        /** Registrations carrying all of the tags (any_tag false) or at
         *  least one of them (any_tag true). Sorted by name. */
        idempotent list<Entry> lookup_meta(list<string> tags, bool any_tag);
        /** Removes the registrations whose name matches; how many. */
        u32 remove(string pattern, Match how);
        /** Removes one URI from a name (the name goes when it was its last
         *  URI); how many URIs were removed (0 or 1). */
        u32 remove_uri(string name, string uri);
        /** Replaces the tags of a registration. */
        void set_meta(string name, list<string> meta) raises (NotFound);
        /** Number of registrations. */
        idempotent u64 count();
        /** Like register_name, under a lease. With lease 0 a new lease of
         *  ttl seconds (1 to 3600) is granted; otherwise the registration
         *  joins that lease (ttl is ignored). The registration goes when its
         *  lease expires (no keepalive within its TTL) or is revoked, so a
         *  daemon that dies drops out. Returns the lease, the token for
         *  keepalive (any roc-ns over the same store can relay it). */
        u64 register_lease(string name, string uri, list<string> meta,
                           u32 flags, u32 ttl, u64 lease)
            raises (Exists, NotFound);
        /** Renews a lease for its TTL; returns the TTL in seconds. NotFound
         *  when the lease has expired (register again). */
        idempotent u32 keepalive(u64 lease) raises (NotFound);
        /** Ends a lease now, removing its registrations. */
        idempotent void revoke(u64 lease);
        /** Starts telling watcher of every change to names beginning with
         *  prefix ("" for all), made by any client of any name server over
         *  the same registry, lease ends included, until unwatch or until
         *  the caller's connection closes. Returns the watch and what the
         *  names hold now; the changes told afterwards are those with a
         *  larger seq. */
        WatchStart watch(string prefix, Watcher watcher);
        /** Whether this name server still holds the watch (false after a
         *  restart: watch again). */
        idempotent bool watching(u64 watch);
        /** Ends a watch. */
        idempotent void unwatch(u64 watch);
    }
}
