/* Types shared by the demo modules (imported by shop.roc). */
module demo.common {
    /** A point in time, seconds since the epoch (UTC). */
    struct Timestamp {
        i64 seconds;
        u32 nanos = 0;
    }

    /** Raised by any operation the server refuses. */
    exception Refused { string reason; }
}
