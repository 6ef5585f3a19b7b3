"""The command line (`kwanzaa-hub`): Typer commands over library functions, and the tables they print."""
