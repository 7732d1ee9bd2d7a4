"""Exchange connectors behind one Protocol (paper now; Binance, Bitget, Kraken next)."""
