/* Version 1 of a struct (tests/test_gen_evolution.c). */
module ev.v1 {
    struct Profile { string name; i32 age; }
    interface Registry { Profile echo(Profile p); }
}
