"""Protobuf encoding by hand, for the tests that build messages without the generated code
(bad_input.py, tests/faults/faultlib.py): fields written in field-number order give Protobuf's
deterministic form. Standard library only; importing it does nothing else."""


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_bytes(field, data):
    """A length-delimited field (bytes, string or an embedded message)."""
    return varint(field << 3 | 2) + varint(len(data)) + data


def pb_varint(field, value):
    """A varint field, written even when it is 0 (a proto3 writer would leave 0 out)."""
    return varint(field << 3) + varint(value)
