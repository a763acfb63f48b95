"""LLVM module -> optimized native code for this CPU, cached on disk, loaded for calling.

The object code of a network is keyed by its canonical form, the backend
version, llvmlite's LLVM and the host CPU and features; entries carry a
checksum, are written atomically, and the cache is trimmed to a size bound.
A module is compiled in parts (one per core), at once in forked processes (llvmlite
serializes every LLVM call of a process), and linked when loaded.
"""
from __future__ import annotations

import hashlib
import os
import struct
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from ...progress import NOTICE_THREAD

# Bump when generated code changes meaning or layout; the digest of netspec's own
# sources is part of the key too, so a changed compiler never reuses stale code.
BACKEND_VERSION = "3"
CACHE_LIMIT_BYTES = 256 * 2**20
_MAGIC = b"NETSPEC-OBJ2"


def cache_dir() -> Path:
    """$NETSPEC_CACHE_DIR, else $XDG_CACHE_HOME/netspec, else ~/.cache/netspec."""
    configured = os.environ.get("NETSPEC_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netspec"


def _new_target_machine() -> llvm.TargetMachine:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=3, codemodel="jitdefault",
    )


@lru_cache(maxsize=1)
def target_machine() -> llvm.TargetMachine:
    """The host's target machine, for optimizing and emitting code. An execution
    engine takes ownership of the machine it is given, so each gets its own."""
    return _new_target_machine()


def host_vector_width() -> int:
    """Floats per vector register: 16 with AVX-512, 8 with AVX, else 4."""
    features = llvm.get_host_cpu_features()
    if features.get("avx512f"):
        return 16
    return 8 if features.get("avx") else 4


def _host_key() -> str:
    machine = target_machine()
    return f"{llvmlite.__version__}|{llvm.llvm_version_info}|{machine.triple}|{llvm.get_host_cpu_name()}|" \
           f"{llvm.get_host_cpu_features().flatten()}"


@lru_cache(maxsize=1)
def compiler_digest() -> str:
    """SHA-256 of netspec's source: what generated code and packed weights depend on."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[2]  # all of netspec: ops feed the generated code too
    for path in sorted(package.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(canonical: str) -> str:
    text = f"{BACKEND_VERSION}\n{compiler_digest()}\n{_host_key()}\n{canonical}"
    return hashlib.sha256(text.encode()).hexdigest()


def optimize(ir_text: str) -> llvm.ModuleRef:
    """Parse, verify and optimize at O3 with loop and SLP vectorization for the host CPU."""
    machine = target_machine()
    module = llvm.parse_assembly(ir_text)
    module.triple = machine.triple
    module.data_layout = str(machine.target_data)
    module.verify()
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = False
    builder = llvm.create_pass_builder(machine, options)
    builder.getModulePassManager().run(module, builder)
    return module


def _read_entry(path: Path) -> bytes | None:
    """The cached object code, or None when absent, truncated, corrupted or foreign."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header = len(_MAGIC) + 32
    if len(data) <= header or not data.startswith(_MAGIC):
        return None
    digest, payload = data[len(_MAGIC):header], data[header:]
    return payload if hashlib.sha256(payload).digest() == digest else None


def _write_entry(path: Path, payload: bytes) -> None:
    """Write atomically (temporary file + rename) so concurrent compilers never see half an entry."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            out.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, path)
        _trim(path.parent)
    except OSError:
        pass  # an unwritable cache only costs a recompile next time


def _trim(directory: Path, limit: int = CACHE_LIMIT_BYTES) -> None:
    """Delete the least recently written entries beyond `limit` bytes in all."""
    entries = sorted(directory.glob("*.o"), key=lambda p: p.stat().st_mtime, reverse=True)
    total = 0
    for entry in entries:
        total += entry.stat().st_size
        if total > limit:
            entry.unlink(missing_ok=True)


def clear_cache() -> int:
    """Delete every cache entry; returns how many were removed."""
    removed = 0
    for entry in cache_dir().glob("*.o"):
        entry.unlink(missing_ok=True)
        removed += 1
    return removed


@dataclass
class Compiled:
    """Native code loaded into this process; keep it alive while its address is used."""

    engine: llvm.ExecutionEngine
    address: int
    seconds: float
    from_cache: bool


# Code already loaded into this process, most recently used last. Models keep their
# own reference, so dropping an entry here only means loading it again if asked.
_loaded: OrderedDict[str, Compiled] = OrderedDict()
LOADED_LIMIT = 64
_lock = threading.Lock()


def _split(payload: bytes) -> list[bytes] | None:
    """The object files of a cache entry: a count, their lengths, then the objects."""
    try:
        count, = struct.unpack_from("<I", payload)
        lengths = struct.unpack_from(f"<{count}Q", payload, 4)
    except struct.error:  # shorter than its own table
        return None
    objects, position = [], 4 + 8 * count
    for length in lengths:
        objects.append(payload[position:position + length])
        position += length
    return objects if position == len(payload) else None


def _join(objects: list[bytes]) -> bytes:
    return struct.pack(f"<I{len(objects)}Q", len(objects), *map(len, objects)) + b"".join(objects)


def _alone() -> bool:
    """Whether this thread is the process's only one, but for netspec's notice timer (which
    holds no lock while it waits)."""
    return all(thread is threading.current_thread() or thread.name == NOTICE_THREAD
               for thread in threading.enumerate())


def _in_processes(work, count: int) -> list[bytes]:
    """[work(0), ..., work(count - 1)]: work(0) here while forked children do the rest at
    once, each sending its bytes back through a pipe. Work a child could not finish is
    done here, and all of it where there is no fork or where this process runs other
    threads (an editor's server, a Dask worker, a training step's pool): a forked child
    holds only the forking thread, and a lock another thread held at that moment (LLVM's,
    the allocator's) would never be released in it."""
    children, sent = [], {}
    try:
        for part in range(1, count) if sys.platform.startswith("linux") and _alone() else ():
            read, write = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no process to spare: the rest is done here
                os.close(read)
                os.close(write)
                break
            if pid == 0:  # the child: compile, send, and leave without running the parent's exit code
                os.close(read)
                status = 1
                try:
                    data = work(part)
                    with os.fdopen(write, "wb") as pipe:
                        pipe.write(data)
                    status = 0
                finally:
                    os._exit(status)
            os.close(write)
            children.append((part, pid, read))
        own = work(0)
    finally:  # every child is read and reaped, even when this part fails
        for part, pid, read in children:
            with os.fdopen(read, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            if status == 0 and data:
                sent[part] = data
    return [own] + [sent[part] if part in sent else work(part) for part in range(1, count)]


def compile_object(canonical: str, emit_ir, symbol: str) -> Compiled:
    """Native code for `canonical`: from this process, from the disk cache, or by
    calling `emit_ir()` for LLVM IR text and compiling it."""
    return compile_parts(canonical, lambda part: emit_ir(), 1, symbol)


def compile_parts(canonical: str, emit_part, parts: int, symbol: str) -> Compiled:
    """Native code for `canonical` (see `compile_object`), compiled in `parts` parts:
    `emit_part(i)` gives the IR text of part i, and the parts are linked as they load."""
    key = cache_key(canonical)
    with _lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
        started = time.perf_counter()
        path = cache_dir() / f"{key}.o"
        payload = _read_entry(path)
        objects = _split(payload) if payload is not None else None
        from_cache = objects is not None
        if objects is None:
            objects = _in_processes(lambda part: target_machine().emit_object(optimize(emit_part(part))), parts)
            _write_entry(path, _join(objects))
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _new_target_machine())
        for code in objects:
            engine.add_object_file(llvm.ObjectFileRef.from_data(code))
        engine.finalize_object()
        compiled = Compiled(engine, engine.get_function_address(symbol), time.perf_counter() - started, from_cache)
        _loaded[key] = compiled
        if len(_loaded) > LOADED_LIMIT:
            _loaded.popitem(last=False)
        return compiled
