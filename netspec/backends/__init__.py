"""Backends turn a shaped graph into something that computes it; `llvm` generates native code."""
