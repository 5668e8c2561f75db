"""The `adnkit` command."""
