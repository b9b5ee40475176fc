/* Every IDL type, for the round-trip tests (tests/test_gen_roundtrip.c). */
module rt {
    enum Level { LOW = 1, MID, HIGH = 10 }

    struct Point { i32 x; i32 y; }

    struct Node {
        string label;
        optional<Node> next;     // recursion through a pointer
        list<Node> children;
    }

    struct All {
        bool b;
        i8 i8v; i16 i16v; i32 i32v; i64 i64v;
        u8 u8v; u16 u16v; u32 u32v; u64 u64v;
        f32 f32v; f64 f64v;
        string s;
        bytes data;
        any dyn;
        Level level = 2;
        list<Point> points;
        list<list<i32>> grid;
        map<Level, string> names;
        map<i64, Point> by_id;
        optional<Point> origin;
        optional<string> note;
        Point corner;
    }

    exception Oops { string what; i32 code; list<string> hints; }

    interface Echo {
        All all(All v);
        bytes blob(bytes b);
        any dynamic(any v);
        list<Point> points(list<Point> p);
        map<Level, string> names(map<Level, string> m);
        optional<Point> maybe(optional<Point> p);
        Node tree(Node n);
        u64 big(u64 v, i64 w);
        Level level(Level l);
        void fail(string what, i32 code) raises (Oops);
        oneway void poke(i32 n);
        i32 pokes();
        idempotent i32 twice(i32 n);
    }
}
