"""PyNN scripts that tests run on purpose: never imported by collection (they run networks)."""

collect_ignore_glob = ["*.py"]
