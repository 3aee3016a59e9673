"""The `tfcomp` command line: one thin module per verb."""
