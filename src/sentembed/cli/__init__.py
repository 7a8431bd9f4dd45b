"""The `sentembed` command-line interface."""
