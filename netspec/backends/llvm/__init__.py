"""The LLVM backend: a shaped graph -> inference rewrite -> memory plan and weight
layout -> one loop nest per layer (kernels/) -> LLVM IR -> native code (jit) -> Model.

Nothing here is imported to parse or check a spec: `netspec.Network.compile` imports
`runtime` when it is called.
"""
