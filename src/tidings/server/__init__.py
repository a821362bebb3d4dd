"""The process runtime: start, serve and gracefully stop a server; worker processes."""
