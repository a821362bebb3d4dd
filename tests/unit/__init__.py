"""Unit tests: no sockets, no processes. The tree mirrors ``src/tidings/`` path by path:
``tests/unit/<package>/test_<module>[_<topic>].py`` tests ``src/tidings/<package>/<module>.py``
(``tests/unit/test_layout.py`` checks it); ``tests/unit/benchmarks/`` tests ``benchmarks/``."""
