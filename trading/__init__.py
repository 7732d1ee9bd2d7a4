"""Pure trading arithmetic: order sizing and position accounting (Decimal only)."""
