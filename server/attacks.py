"""Hostile payloads the service must survive, shared by its attack tests and ``bench/service_attack.py``.

Each builder returns the bytes an attacker would upload, small on the wire and huge (or absurd) once expanded;
sizes are parameters so tests stay fast and the benchmark can go as far as the issue's probe did.
"""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np

_ROW = b"1\t" * 4095 + b"1\n"  # one 8 KB line of a UCR .tsv


def gzip_bomb(expanded_bytes: int, member_bytes: int = 8 << 20) -> bytes:
    """A ``.tsv.gz`` of concatenated gzip members (a valid gzip stream) expanding to ``expanded_bytes``."""
    member_bytes = min(member_bytes, expanded_bytes)
    member = gzip.compress(_ROW * max(1, member_bytes // len(_ROW)), compresslevel=9)
    return member * max(1, expanded_bytes // member_bytes)


def many_series_gz(n_series: int) -> bytes:
    """A ``.tsv.gz`` of ``n_series`` labelled one-value series (tiny compressed, millions of Python objects)."""
    return gzip.compress(b"1\t0\n2\t1\n" * (n_series // 2), compresslevel=9)


def ragged_ts(n_short: int, long_length: int) -> bytes:
    """A ``.ts`` whose one long series pads every short one to ``long_length``: n × length values from a small file."""
    header = b"@problemName ragged\n@univariate true\n@equalLength false\n@classLabel true 0 1\n@data\n"
    short = b"1,2:0\n2,1:1\n" * (n_short // 2)
    return header + short + b",".join([b"1"] * long_length) + b":0\n"


def npz_zero_bomb(expanded_bytes: int) -> bytes:
    """An ``.npz`` whose ``X`` is ``expanded_bytes`` of zeros, deflated to about a thousandth of that."""
    n = expanded_bytes // 8
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("X.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (n, 1)})
            block = bytes(1 << 20)
            for _ in range(n * 8 // len(block)):
                member.write(block)
            member.write(bytes(n * 8 % len(block)))
        archive.writestr("y.npy", _npy(np.zeros(1, dtype=np.int8)))
    return buffer.getvalue()


def npz_forged_shape(shape: tuple[int, ...] = (10**12,)) -> bytes:
    """An ``.npz`` whose ``X`` header claims ``shape`` (terabytes) but holds a few bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(64))
    return buffer.getvalue()


def truncated_npz() -> bytes:
    """A valid small dataset ``.npz`` cut short, as an interrupted upload leaves it."""
    whole = io.BytesIO()
    np.savez(whole, X=np.random.default_rng(0).normal(size=(40, 64)), y=np.arange(40) % 2)
    return whole.getvalue()[: len(whole.getvalue()) * 2 // 3]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
