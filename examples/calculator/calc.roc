/* The smallest IDL service: a calculator. */
module demo {
    /** Raised by divide when b is 0. */
    exception DivideByZero { f64 dividend; }

    interface Calculator {
        i64 add(i64 a, i64 b);
        i64 multiply(i64 a, i64 b);
        f64 divide(f64 a, f64 b) raises (DivideByZero);
    }
}
