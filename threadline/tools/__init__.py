"""Tools a run can call: user functions (requires_action) and the built-in tools."""
