"""Published reference data shipped with tfcomp (Kodak RD anchors)."""
