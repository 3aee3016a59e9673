"""Blind A/B comparison: matched-size reconstructions, a local voting page, and win rates from the votes."""
