/* Inventory of a small shop. */
module demo.shop {
    import "common.roc";

    const i32 MAX_ITEMS = 100;
    const string VERSION = "1.2";

    enum Color { RED, GREEN = 5, BLUE }

    /** One article on the shelf. */
    struct Item {
        string name;
        f64 price;
        list<string> tags;
        optional<Color> color;
        map<string, i64> stock;
        bytes picture;
    }

    typedef list<Item> Items;

    exception OutOfStock { string item; i32 requested; }
    exception NotFound { string name; }

    interface Listener {
        oneway void changed(string item, any detail);
    }

    interface Warehouse {
        readonly attribute i32 count;
        attribute string motto;

        Items contents();
        idempotent Item get(string name) raises (NotFound);
        void store(Item item, i32 quantity) raises (OutOfStock, NotFound);
        oneway void touch();
        void subscribe(Listener listener);
        Warehouse branch(string city);
    }

    interface Shop : Warehouse {
        f64 checkout(list<string> names) raises (NotFound);
    }
}
