"""Checked network -> LLVM IR: buffer plan, loop nests per layer, one `forward` entry point."""
