"""Data layer: sources, schema, raw tables, checks, features, the store."""
