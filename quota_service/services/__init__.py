"""Business rules. Services own transactions; handlers and CLI commands call them."""
