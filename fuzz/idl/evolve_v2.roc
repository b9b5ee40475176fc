/* Version 2 of the same struct: fields appended, with defaults. */
module ev.v2 {
    struct Profile { string name; i32 age; string city = "Paris"; list<string> tags; }
    interface Registry { Profile echo(Profile p); }
}
