"""The in-process domain: the hub of local subscribers, presence, the node."""
