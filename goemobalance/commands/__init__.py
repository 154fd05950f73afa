"""CLI subcommands, one module each; see `goemobalance.cli`."""
