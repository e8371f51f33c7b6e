"""Cross-check (placeholder)."""
