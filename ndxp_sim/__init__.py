"""The ``ndxp-sim`` command line, process supervision, the report and the terminal demo.

Settings live one layer down, in :mod:`ndxp_config` (every package imports them from there).
"""
