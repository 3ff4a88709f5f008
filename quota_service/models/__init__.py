"""Pydantic models of the JSON API (separate from the ORM tables in schema/)."""
