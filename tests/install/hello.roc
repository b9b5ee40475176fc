module hello {
    interface Greeter {
        string greet(string who);
    }
}
