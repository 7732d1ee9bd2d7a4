"""Small servers that behave like the outside world we cannot reach in tests."""
