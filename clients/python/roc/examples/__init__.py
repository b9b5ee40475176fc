"""Examples of the roc package: python3 -m roc.examples.echo_server URL."""
