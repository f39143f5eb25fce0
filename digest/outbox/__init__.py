"""Outbox: the issue folder (written atomically, a versioned manifest), its files, and the
linter.
"""
