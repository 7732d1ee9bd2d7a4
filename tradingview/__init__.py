"""TradingView alert payloads: parsing, field aliases, validation."""
