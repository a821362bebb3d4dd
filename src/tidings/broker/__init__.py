"""The seam between nodes: brokers (fan-out) and presence stores."""
