"""One-off studies: each answers one question about a kept table (docs/results.md cites them)."""
