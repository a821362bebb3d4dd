"""Apps (tenants): credentials, flags and limits, and the stores that hold them."""
