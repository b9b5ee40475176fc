module m {
    import "common.roc";
    const i64 N = -0x10;
    const f64 PI = 3.14e0;
    typedef map<string, list<optional<common.Point>>> T;
    struct S { common.Color c = GREEN; T t; bytes b; any a; }
    exception E { string why; }
    interface I { S get(i32 a, string b) raises (E); oneway void put(S s); idempotent u64 n(); }
}
