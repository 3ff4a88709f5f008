"""HTTP handlers: parse input, call one service, shape output."""
