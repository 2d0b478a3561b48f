"""Sandboxes that run untrusted Python for the code_interpreter tool: a `Sandbox` backend
starts an isolated process, a `KernelSession` drives a persistent ipykernel inside it, and a
`KernelPool` keeps one kernel per thread, reaping idle ones."""
