"""The parser's version: bump it whenever a change to `transforms/` changes any staged row.

Files staged by another version are parsed again on the next run, so no stale rows survive.
"""

PARSER_VERSION = 3
