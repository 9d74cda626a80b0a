"""Model <-> bytes. JSON is the default and, for now, the only format."""
