/* The classic Pyro example, typed: a warehouse where visitors store and
 * take items. */
module warehouse {
    /** Something on a shelf. */
    struct Item {
        string name;
        i32 weight = 1;      // kilograms
        list<string> tags;
    }

    exception NotInStock { string item; }
    exception Full { i32 capacity; }

    interface Warehouse {
        readonly attribute i32 capacity;
        list<Item> contents();
        void store(string visitor, Item item) raises (Full);
        Item take(string visitor, string name) raises (NotInStock);
    }
}
