"""Users: password hashing, creation, authentication."""
