"""The admin listener: Prometheus metrics and the admin JSON API (loopback by default)."""
