"""All SQL of sessionkeeper lives in this package."""
