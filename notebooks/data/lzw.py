"""Write Unix `compress` (.Z) files: LZW, 9- to 16-bit codes, as `compress -b16` writes them.

HEASARC keeps ROSAT products as `.fits.Z`, which Python reads only through a decoder such as
`unlzw3`; nothing on PyPI writes them, so the synthetic data writes its own. Codes are packed
least-significant bit first in groups of eight; when the code width grows, the current group is
padded to its full size (n_bits bytes), because readers realign there. No CLEAR codes: once the
table is full, existing entries are used and none are added.
"""

from __future__ import annotations

MAGIC = b"\x1f\x9d"
INIT_BITS = 9
MAX_BITS = 16
BLOCK_MODE = 0x80  # header flag readers expect; no CLEAR code is ever sent
FIRST_FREE = 257  # 0-255 literals, 256 reserved for CLEAR in block mode


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.nbits = 0
        self.group_bits = 0  # bits written since this code width started

    def write(self, code: int, width: int) -> None:
        self.acc |= code << self.nbits
        self.nbits += width
        self.group_bits += width
        while self.nbits >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.nbits -= 8

    def pad_group(self, width: int) -> None:
        """Fill the current group of eight codes with zero bits."""
        group = width * 8
        if self.group_bits % group:
            self.write(0, group - self.group_bits % group)
        self.group_bits = 0

    def finish(self) -> bytes:
        if self.nbits:
            self.out.append(self.acc & 0xFF)
        return bytes(self.out)


def compress(data: bytes) -> bytes:
    table: dict[bytes, int] = {bytes([i]): i for i in range(256)}
    free = FIRST_FREE
    limit = 1 << MAX_BITS
    width = INIT_BITS
    max_code = (1 << width) - 1
    writer = _BitWriter()

    def emit(code: int) -> None:
        nonlocal width, max_code
        writer.write(code, width)
        # A reader widens its codes once its table passes max_code; so does the writer.
        if free > max_code and width < MAX_BITS:
            writer.pad_group(width)
            width += 1
            max_code = limit if width == MAX_BITS else (1 << width) - 1

    word = b""
    for value in data:
        grown = word + bytes([value])
        if grown in table:
            word = grown
            continue
        emit(table[word])
        if free < limit:
            table[grown] = free
            free += 1
        word = bytes([value])
    if word:
        emit(table[word])
    return MAGIC + bytes([BLOCK_MODE | MAX_BITS]) + writer.finish()
