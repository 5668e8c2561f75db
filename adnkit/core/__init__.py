"""The ground floor: one-line errors, atomic and pickle-free files, text helpers, devices. Imports nothing else of
adnkit."""
