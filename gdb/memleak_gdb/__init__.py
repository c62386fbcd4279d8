"""Reader, aggregation and formatting for memleak-finder's gdb extension.

Every module here except gdb_backend works on plain bytes and Python
objects, so it runs (and is tested) without gdb.
"""
