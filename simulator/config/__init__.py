"""Scenario files and the other file kinds: typed values, one-line errors, TOML, key paths,
the schema, the canonical hash and the generated key reference.

May import: nothing else of ``simulator`` (this is the bottom layer).
"""
