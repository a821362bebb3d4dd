"""Sans-I/O protocol layer: text in, commands and text out.

Nothing here awaits, sleeps, reads the clock or opens sockets; time and ids are
passed in by the caller.
"""
