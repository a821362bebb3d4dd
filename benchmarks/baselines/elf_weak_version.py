"""Mark one symbol-version requirement of an ELF64 shared object weak, in place.

Usage: ``python elf_weak_version.py FILE.node GLIBC_2.38``

A version requirement (an ``Elf64_Vernaux`` entry of ``.gnu.version_r``) flagged
``VER_FLG_WEAK`` no longer stops the dynamic loader when the library lacks that version; the
symbols bound to it are then found in whichever loaded object defines them unversioned (the
bench preloads ``glibc238-shim.so`` for the three GLIBC_2.38 symbols of uWebSockets.js).
Exits 0 when the requirement is now weak (also when it already was or is absent), 1 when the
file is not a little-endian ELF64 object. Only the two flag bytes of the entry change.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def _cstr(data: bytes | bytearray, offset: int) -> str:
    return bytes(data[offset : data.index(b"\0", offset)]).decode()


def weaken(path: Path, version: str) -> int:
    """Flag every requirement of ``version`` in ``path`` weak; returns how many changed."""
    data = bytearray(path.read_bytes())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a little-endian ELF64 file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    changed = 0
    for _name, kind, _flags, _addr, offset, _size, link, info, _align, _entsize in sections:
        if kind != SHT_GNU_VERNEED:
            continue
        strtab = sections[link][4]
        need = offset
        for _ in range(info):  # sh_info: the number of Verneed entries
            _ver, count, _file, aux, nxt = struct.unpack_from("<HHIII", data, need)
            entry = need + aux
            for _ in range(count):
                _hash, flags, _other, name, anext = struct.unpack_from("<IHHII", data, entry)
                if _cstr(data, strtab + name) == version and not flags & VER_FLG_WEAK:
                    struct.pack_into("<H", data, entry + 4, flags | VER_FLG_WEAK)
                    changed += 1
                entry += anext
            need += nxt
    if changed:
        path.write_bytes(bytes(data))
    return changed


def main(argv: list[str]) -> int:
    """Command-line entry point (see the module docstring)."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        changed = weaken(Path(argv[0]), argv[1])
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{argv[0]}: {changed} requirement(s) of {argv[1]} marked weak")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
